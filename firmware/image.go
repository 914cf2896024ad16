package firmware

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"
)

// Image layout (all integers big-endian):
//
//	magic    8 bytes  "EBFWIMG1"
//	mlen     4 bytes  length of the manifest
//	manifest mlen bytes of JSON (Manifest)
//	payload  Manifest.PayloadSize bytes: a gzip-compressed tar archive of the
//	         files (a static Go binary compresses to about half: the upload
//	         over a cellular link takes half as long)
//	trailer  "SIG1" + 64-byte Ed25519ph signature (absent when unsigned)
//
// The signature is Ed25519ph (RFC 8032 §5.1, SHA-512 prehash) over every
// byte before the trailer, so a device verifies while streaming the image
// and never has to hold it in memory. The manifest is length-prefixed and
// parsed before the tar so nothing of the untrusted archive is interpreted
// until the signature has checked out.
const (
	magic          = "EBFWIMG1"
	sigMagic       = "SIG1"
	maxManifest    = 64 << 10
	trailerLen     = len(sigMagic) + ed25519.SignatureSize
	ManifestFormat = 1
)

// Manifest describes an image.
type Manifest struct {
	Format        int       `json:"format"`
	Version       string    `json:"version"`
	Arch          string    `json:"arch"` // GOARCH: arm, arm64, amd64
	Created       time.Time `json:"created"`
	PayloadSize   int64     `json:"payload_size"`
	PayloadSHA256 string    `json:"payload_sha256"`
	Files         []File    `json:"files"`
}

// File is one file of the image.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Mode   int64  `json:"mode"`
	SHA256 string `json:"sha256"`
}

// BinaryName is the program inside every image.
const BinaryName = "edgebridge"

// Errors a caller may want to tell apart.
var (
	ErrUnsigned     = errors.New("firmware: image is not signed")
	ErrBadSignature = errors.New("firmware: signature does not match (wrong key or altered image)")
	ErrWrongArch    = errors.New("firmware: image is for another architecture")
	ErrTruncated    = errors.New("firmware: image is truncated")
)

// Input is one file to put into an image.
type Input struct {
	Name string // path inside the slot
	Mode int64
	Data []byte
}

// Build writes an image of files for arch to w, signed with key when key is
// not nil. The binary named BinaryName must be a static ELF for arch.
func Build(w io.Writer, version, arch string, created time.Time, files []Input, key ed25519.PrivateKey) (Manifest, error) {
	m := Manifest{Format: ManifestFormat, Version: version, Arch: arch, Created: created.UTC().Truncate(time.Second)}
	var payload bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&payload, gzip.DefaultCompression)
	tw := tar.NewWriter(zw)
	sawBinary := false
	for _, f := range files {
		if err := checkName(f.Name); err != nil {
			return m, err
		}
		if f.Name == BinaryName {
			if err := CheckELF(f.Data, arch); err != nil {
				return m, err
			}
			sawBinary = true
		}
		sum := sha256.Sum256(f.Data)
		m.Files = append(m.Files, File{Name: f.Name, Size: int64(len(f.Data)), Mode: f.Mode, SHA256: hex.EncodeToString(sum[:])})
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return m, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return m, err
		}
	}
	if !sawBinary {
		return m, fmt.Errorf("firmware: image needs the %s binary", BinaryName)
	}
	if err := tw.Close(); err != nil {
		return m, err
	}
	if err := zw.Close(); err != nil {
		return m, err
	}
	sum := sha256.Sum256(payload.Bytes())
	m.PayloadSize = int64(payload.Len())
	m.PayloadSHA256 = hex.EncodeToString(sum[:])
	mj, err := json.Marshal(m)
	if err != nil {
		return m, err
	}
	var head bytes.Buffer
	head.WriteString(magic)
	binary.Write(&head, binary.BigEndian, uint32(len(mj)))
	head.Write(mj)
	h := sha512.New()
	mw := io.MultiWriter(w, h)
	if _, err := mw.Write(head.Bytes()); err != nil {
		return m, err
	}
	if _, err := mw.Write(payload.Bytes()); err != nil {
		return m, err
	}
	if key != nil {
		sig, err := signDigest(key, h.Sum(nil))
		if err != nil {
			return m, err
		}
		if _, err := w.Write(append([]byte(sigMagic), sig...)); err != nil {
			return m, err
		}
	}
	return m, nil
}

func signDigest(key ed25519.PrivateKey, digest []byte) ([]byte, error) {
	return key.Sign(rand.Reader, digest, &ed25519.Options{Hash: crypto.SHA512})
}

// checkName refuses paths that could leave the slot folder.
func checkName(name string) error {
	if name == "" || path.Clean(name) != name || path.IsAbs(name) || name == ".." || len(name) > 2 && name[:3] == "../" {
		return fmt.Errorf("firmware: file name %q is not a plain relative path", name)
	}
	return nil
}

// CheckELF checks that b is a static Linux ELF executable for GOARCH arch.
func CheckELF(b []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("firmware: %s is not an ELF executable: %w", BinaryName, err)
	}
	want, ok := map[string]elf.Machine{"arm": elf.EM_ARM, "arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64, "386": elf.EM_386}[arch]
	if !ok {
		return fmt.Errorf("firmware: arch %q not supported (want arm, arm64 or amd64)", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("%w: binary is %v, manifest says %s", ErrWrongArch, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("firmware: %s is dynamically linked; build with CGO_ENABLED=0", BinaryName)
		}
	}
	return nil
}

// Image is a parsed image header; Verify made it.
type Image struct {
	Manifest Manifest
	Signed   bool
	// offsets into the file
	payloadOff int64
	size       int64
}

// Verify reads the whole image from r (size bytes), checks its structure,
// payload hash and, when pub is not nil, its signature, and that it is for
// arch (empty: any). Nothing is written anywhere.
func Verify(r io.ReaderAt, size int64, pub ed25519.PublicKey, arch string) (*Image, error) {
	sr := io.NewSectionReader(r, 0, size)
	h512 := sha512.New()
	tr := io.TeeReader(sr, h512)
	var head [12]byte
	if _, err := io.ReadFull(tr, head[:]); err != nil {
		return nil, fmt.Errorf("%w: no header", ErrTruncated)
	}
	if string(head[:8]) != magic {
		return nil, errors.New("firmware: not an edgebridge image (bad magic)")
	}
	mlen := int64(binary.BigEndian.Uint32(head[8:]))
	if mlen > maxManifest {
		return nil, fmt.Errorf("firmware: manifest of %d bytes is larger than %d", mlen, maxManifest)
	}
	mj := make([]byte, mlen)
	if _, err := io.ReadFull(tr, mj); err != nil {
		return nil, fmt.Errorf("%w: in the manifest", ErrTruncated)
	}
	img := &Image{payloadOff: 12 + mlen, size: size}
	if err := json.Unmarshal(mj, &img.Manifest); err != nil {
		return nil, fmt.Errorf("firmware: manifest: %w", err)
	}
	m := &img.Manifest
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("firmware: manifest format %d, this build reads %d", m.Format, ManifestFormat)
	}
	if m.PayloadSize < 0 {
		return nil, errors.New("firmware: manifest payload_size is negative")
	}
	rest := size - img.payloadOff - m.PayloadSize
	switch {
	case rest < 0:
		return nil, fmt.Errorf("%w: %d of %d payload bytes present", ErrTruncated, size-img.payloadOff, m.PayloadSize)
	case rest == 0:
	case rest == int64(trailerLen):
		img.Signed = true
	case rest < int64(trailerLen):
		return nil, fmt.Errorf("%w: in the signature", ErrTruncated)
	default:
		return nil, fmt.Errorf("firmware: %d unexpected bytes after the payload", rest-int64(trailerLen))
	}
	h256 := sha256.New()
	if _, err := io.CopyN(h256, tr, m.PayloadSize); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrTruncated, err)
	}
	if got := hex.EncodeToString(h256.Sum(nil)); got != m.PayloadSHA256 {
		return nil, fmt.Errorf("firmware: payload sha256 %s does not match manifest %s", got, m.PayloadSHA256)
	}
	if pub != nil {
		if !img.Signed {
			return nil, ErrUnsigned
		}
		var tl [trailerLen]byte
		if _, err := io.ReadFull(sr, tl[:]); err != nil || string(tl[:4]) != sigMagic {
			return nil, errors.New("firmware: signature trailer malformed")
		}
		if err := ed25519.VerifyWithOptions(pub, h512.Sum(nil), tl[4:], &ed25519.Options{Hash: crypto.SHA512}); err != nil {
			return nil, ErrBadSignature
		}
	}
	if arch != "" && m.Arch != arch {
		return nil, fmt.Errorf("%w: image is %s, this device is %s", ErrWrongArch, m.Arch, arch)
	}
	names := map[string]bool{}
	for _, f := range m.Files {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		if names[f.Name] {
			return nil, fmt.Errorf("firmware: manifest lists %s twice", f.Name)
		}
		names[f.Name] = true
	}
	if !names[BinaryName] {
		return nil, fmt.Errorf("firmware: image has no %s binary", BinaryName)
	}
	return img, nil
}

// VerifyFile is Verify on a file.
func VerifyFile(path string, pub ed25519.PublicKey, arch string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Verify(f, st.Size(), pub, arch)
}

// Sign writes the image from r (size bytes) to w signed with key, replacing
// any signature it had.
func Sign(w io.Writer, r io.ReaderAt, size int64, key ed25519.PrivateKey) error {
	img, err := Verify(r, size, nil, "")
	if err != nil {
		return err
	}
	body := img.payloadOff + img.Manifest.PayloadSize
	h := sha512.New()
	if _, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(r, 0, body)); err != nil {
		return err
	}
	sig, err := signDigest(key, h.Sum(nil))
	if err != nil {
		return err
	}
	_, err = w.Write(append([]byte(sigMagic), sig...))
	return err
}

// extract unpacks the payload of a verified image into dir, checking every
// file against the manifest. after is called after each file (fault points).
func (img *Image) extract(r io.ReaderAt, dir string, after func(name string)) error {
	want := map[string]File{}
	for _, f := range img.Manifest.Files {
		want[f.Name] = f
	}
	zr, err := gzip.NewReader(io.NewSectionReader(r, img.payloadOff, img.Manifest.PayloadSize))
	if err != nil {
		return fmt.Errorf("firmware: payload: %w", err)
	}
	tr := tar.NewReader(zr)
	seen := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("firmware: payload: %w", err)
		}
		mf, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg || hdr.Size != mf.Size {
			return fmt.Errorf("firmware: payload file %q does not match the manifest", hdr.Name)
		}
		if err := writeFileSync(path.Join(dir, hdr.Name), os.FileMode(mf.Mode&0o777), tr, mf.SHA256); err != nil {
			return err
		}
		seen++
		if after != nil {
			after(hdr.Name)
		}
	}
	if seen != len(want) {
		return fmt.Errorf("firmware: payload has %d files, manifest %d", seen, len(want))
	}
	return nil
}

func writeFileSync(name string, mode os.FileMode, r io.Reader, wantSHA string) error {
	h := sha256.New()
	if err := os.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		f.Close()
		return fmt.Errorf("firmware: %s sha256 %s does not match manifest", name, got)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Key files are PEM: the 32-byte Ed25519 seed or public key.
const (
	pemPrivate = "EDGEBRIDGE FIRMWARE PRIVATE KEY"
	pemPublic  = "EDGEBRIDGE FIRMWARE PUBLIC KEY"
)

// GenerateKey writes a new key pair as PEM to priv and pub.
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: priv.Seed()}),
		pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: pub}), nil
}

// ParsePrivateKey reads a private key file's content.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemPrivate || len(blk.Bytes) != ed25519.SeedSize {
		return nil, errors.New("firmware: not an edgebridge firmware private key (PEM " + pemPrivate + ")")
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// ParsePublicKey reads a public key file's content; a private key file
// yields its public half.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk != nil && blk.Type == pemPublic && len(blk.Bytes) == ed25519.PublicKeySize {
		return ed25519.PublicKey(blk.Bytes), nil
	}
	if k, err := ParsePrivateKey(b); err == nil {
		return k.Public().(ed25519.PublicKey), nil
	}
	return nil, errors.New("firmware: not an edgebridge firmware public key (PEM " + pemPublic + ")")
}
