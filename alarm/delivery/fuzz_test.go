package delivery

import "testing"

// FuzzParseDC09Addr: arbitrary destAddr strings never panic, and an
// accepted one always yields an endpoint that validates.
func FuzzParseDC09Addr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5001", "udp://h:1", "dc09://arc:5001?transport=udp&account=1234&key=000102030405060708090a0b0c0d0e0f&eventid=1&timeout=300", "dc09://h:1?format=SIA-DCS", "::", "dc09://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := ParseDC09Addr(s)
		if err != nil {
			return
		}
		if err := ep.validate(); err != nil {
			t.Fatalf("accepted %q but %+v does not validate: %v", s, ep, err)
		}
	})
}
