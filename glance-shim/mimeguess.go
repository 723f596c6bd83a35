package glanceshim

import "strings"

// pyGuessType is Python's mimetypes.guess_type(path, strict=True)[0] over
// the tables of mimetable.go: suffix_map expansion (".tgz" is
// ".tar.gz"), a compression extension (".gz", ".bz2", ...) stripped as the
// encoding, then the extension looked up in lower case. "" when unknown.
// Swift's proxy calls it with the request's path (/v1/a/c/o).
func pyGuessType(p string) string {
	base, ext := pySplitext(p)
	for {
		s, ok := pySuffixMap[strings.ToLower(ext)]
		if !ok {
			break
		}
		base, ext = pySplitext(base + s)
	}
	if _, ok := pyEncodingsMap[ext]; ok {
		base, ext = pySplitext(base)
	}
	_ = base
	return pyTypesMap[strings.ToLower(ext)]
}

// pySplitext is Python's posixpath.splitext: the extension is from the
// last '.' of the last path element, unless the element is all leading
// dots up to it (".bashrc" has none).
func pySplitext(p string) (root, ext string) {
	dot := strings.LastIndexByte(p, '.')
	if dot <= strings.LastIndexByte(p, '/') {
		return p, ""
	}
	start := strings.LastIndexByte(p, '/') + 1
	for i := start; i < dot; i++ {
		if p[i] != '.' {
			return p[:dot], p[dot:]
		}
	}
	return p, ""
}
