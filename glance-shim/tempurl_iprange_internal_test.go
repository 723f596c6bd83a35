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

// TestStrptimeISO: temp_url_expires in ISO 8601 as Swift's tempurl reads
// it, calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ")); each want
// is what Debian's /usr/bin/python3 answers (-1: ValueError).
func TestStrptimeISO(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"2026-11-29T21:05:03Z", 1795986303},
		{"2026-1-2T3:4:5Z", 1767323045},
		{"2026-11-29t21:05:03z", 1795986303},
		{"2026-11- 9T21:05:03Z", 1794258303},
		{"2026-02-30T00:00:00Z", -1},
		{"2028-02-29T00:00:00Z", 1835395200},
		{"2026-11-29T21:05:60Z", 1795986360},
		{"2026-11-29T21:05:61Z", 1795986361},
		{"2026-11-29T24:00:00Z", -1},
		{"02026-11-29T21:05:03Z", -1},
		{"2026-11-29T21:05:03", -1},
		{"2026-11-29 21:05:03Z", -1},
		{"0000-01-01T00:00:00Z", -1},
	} {
		got, ok := strptimeISO(tc.in)
		if !ok {
			got = -1
		}
		if got != tc.want {
			t.Errorf("strptimeISO(%q) = %d, %v; want %d", tc.in, got, ok, tc.want)
		}
	}
}
