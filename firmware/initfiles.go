package firmware

import _ "embed"

// The init files travel inside every image, so a slot carries the service
// definition that matches its binary.
var (
	//go:embed edgebridge.service
	SystemdUnit []byte
	//go:embed edgebridge.init
	ProcdInit []byte
)
