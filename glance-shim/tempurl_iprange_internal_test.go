package glanceshim

import "testing"

// TestIPInRange: temp_url_ip_range as Swift's tempurl.py reads it with
// Python's ipaddress.ip_network; each want is what Python 3 answers for
// ip_address(remote) in ip_network(ipRange) ("invalid": ValueError, a
// 401 in Swift), checked with Debian's /usr/bin/python3.
func TestIPInRange(t *testing.T) {
	for _, tc := range []struct {
		remote, ipRange string
		want            bool
	}{
		{"127.0.0.1:5000", "127.0.0.1", true},
		{"127.0.0.1:5000", "127.0.0.0/8", true},
		{"127.0.0.1:5000", "127.0.0.1/8", false}, // invalid: host bits set
		{"127.0.0.1:5000", "127.0.0.0/255.0.0.0", true},
		{"127.0.0.1:5000", "127.0.0.0/0.255.255.255", true},
		{"127.0.0.1:5000", "127.0.0.0/255.0.255.0", false}, // invalid mask
		{"127.0.0.1:5000", "0.0.0.0/0", true},
		{"127.0.0.1:5000", "0.0.0.0/0.0.0.0", true},
		{"127.0.0.1:5000", "127.0.0.1/255.255.255.255", true},
		{"127.0.0.1:5000", "127.0.0.1/32", true},
		{"127.0.0.1:5000", "127.0.0.1/032", true},
		{"127.0.0.1:5000", "127.0.0.1/33", false},
		{"127.0.0.1:5000", "127.0.0.1/", false},
		{"127.0.0.1:5000", "127.0.0.1/+8", false},
		{"127.0.0.1:5000", "127.0.0.01", false},
		{"127.0.0.1:5000", "::1", false},
		{"[::1]:5000", "::1", true},
		{"[::1]:5000", "::/0", true},
		{"[::1]:5000", "::1/128", true},
		{"[::1]:5000", "::/ffff::", false},
		{"127.0.0.1:5000", "garbage", false},
		{"127.0.0.1:5000", "10.0.0.0/8", false},
		{"127.0.0.1:5000", "127.0.0.0/8/8", false},
		{"127.0.0.1:5000", " 127.0.0.1", false},
		{"127.0.0.1:5000", "127.0.0.1 ", false},
		{"127.0.0.1:5000", "127.0.0.0/ 8", false},
		{"127.0.0.1:5000", "::ffff:127.0.0.1", false},
		{"127.0.0.1:5000", "127.1", false},
	} {
		if got := ipInRange(tc.remote, tc.ipRange); got != tc.want {
			t.Errorf("ipInRange(%q, %q) = %v, want %v", tc.remote, tc.ipRange, got, tc.want)
		}
	}
}
