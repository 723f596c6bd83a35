package glanceshim

import "testing"

// TestPyGuessType: Python 3.11's mimetypes.guess_type on Debian 12, as
// Swift's proxy guesses a PUT's Content-Type (values from
// /usr/bin/python3 -c 'import mimetypes; print(mimetypes.guess_type(p))').
func TestPyGuessType(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/v1/a/c/x.wav", "audio/x-wav"},
		{"/v1/a/c/X.WAV", "audio/x-wav"},
		{"/v1/a/c/a.tar.gz", "application/x-tar"},
		{"/v1/a/c/a.tgz", "application/x-tar"},
		{"/v1/a/c/a.gz", ""},
		{"/v1/a/c/.bashrc", ""},
		{"/v1/a/c/..x", ""},
		{"/v1/a/c/dir.d/noext", ""},
		{"/v1/a/c/a.json", "application/json"},
		{"/v1/a/c/a.txt", "text/plain"},
		{"/v1/a/c/a.qcow2", ""},
		{"/v1/a/c/a.iso", "application/x-iso9660-image"},
		{"/v1/a/c/a.svgz", "image/svg+xml"},
		{"/v1/a/c/a.js", "text/javascript"},
	}
	for _, tt := range tests {
		if got := pyGuessType(tt.path); got != tt.want {
			t.Errorf("pyGuessType(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
