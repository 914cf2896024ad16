package dc09

// crcTable is CRC-16/ARC (reflected polynomial 0x8005, written 0xA001 in its
// reflected form, initial value 0, no final xor), the CRC SIA DC-09 §5.4.1
// puts in front of every frame.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC returns the CRC-16/ARC of b. CRC([]byte("123456789")) is 0xBB3D.
func CRC(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
	}
	return c
}
