package mediaservice

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
)

// Prompts is the prompt storage: DATA/mediaservice/prompts/{domain}/{name},
// every file an A-law WAV (8 kHz mono) whatever was uploaded, so playing one
// is reading it. Recordings land here too (the media service API uploads them to the
// prompt storage). The whole storage is bounded by a quota.
type Prompts struct {
	dir   string
	quota int64
	key   []byte // signs the download URLs

	mu   sync.Mutex // one writer at a time, so the quota check holds
	used int64      // -1: not counted yet
}

// Errors of the prompt storage (the API maps them to 4xx).
var (
	ErrBadName   = errors.New("bad prompt file name")
	ErrNoPrompt  = errors.New("no such prompt file")
	ErrQuota     = errors.New("prompt storage full")
	ErrBadFormat = errors.New("not a WAV file of PCM16, A-law or µ-law at 8 kHz")
)

// namePattern keeps prompt names to one path element of safe characters.
var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`) })

// DefaultQuota bounds the prompt storage (prompts and recordings together).
const DefaultQuota = 64 << 20

// URLValidity is how long a prompt file URL works (the media service API: 15 minutes).
const URLValidity = 15 * time.Minute

func newPrompts(dir string, quota int64, key []byte) *Prompts {
	if quota <= 0 {
		quota = DefaultQuota
	}
	return &Prompts{dir: dir, quota: quota, key: key, used: -1}
}

func (p *Prompts) dirOf(domain string) string { return filepath.Join(p.dir, domain) }

func (p *Prompts) path(domain, name string) (string, error) {
	if !namePattern().MatchString(name) {
		return "", fmt.Errorf("%w %q: want 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit", ErrBadName, name)
	}
	return filepath.Join(p.dir, domain, name), nil
}

// usage is the bytes stored; called with mu held.
func (p *Prompts) usage() int64 {
	if p.used >= 0 {
		return p.used
	}
	var n int64
	filepath.WalkDir(p.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	p.used = n
	return n
}

// PromptInfo is one entry of the list.
type PromptInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// List returns up to limit prompts of domain after the name next (the
// list's "next" token), in name order, and the next token ("" at the end).
func (p *Prompts) List(domain, next string, limit int) ([]PromptInfo, string, error) {
	ents, err := os.ReadDir(filepath.Join(p.dir, domain))
	if errors.Is(err, fs.ErrNotExist) {
		return []PromptInfo{}, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	out := []PromptInfo{}
	for _, e := range ents {
		if e.IsDir() || e.Name() <= next || !namePattern().MatchString(e.Name()) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].Name, nil
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, PromptInfo{Name: e.Name(), Size: fi.Size()})
	}
	return out, "", nil
}

// Put stores r (a WAV of PCM16 or G.711, or raw .alaw/.ulaw by the name) as
// an A-law WAV, streamed through a temporary file, synced before it
// replaces the old one.
func (p *Prompts) Put(domain, name string, r io.Reader) (int64, error) {
	path, err := p.path(domain, name)
	if err != nil {
		return 0, err
	}
	ar, err := audiofile.NewReader(name, r)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadFormat, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var old int64
	if fi, err := os.Stat(path); err == nil {
		old = fi.Size()
	}
	room := p.quota - p.usage() + old
	w, err := newWAVWriter(path + ".part")
	if err != nil {
		return 0, err
	}
	pcm := make([]int16, 4096)
	for {
		n, err := ar.Read(pcm)
		if n > 0 {
			if w.size()+int64(n) > room {
				w.abort()
				return 0, fmt.Errorf("%w: %d bytes of the %d byte quota in use", ErrQuota, p.usage(), p.quota)
			}
			if werr := w.write(pcm[:n]); werr != nil {
				w.abort()
				return 0, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			w.abort()
			return 0, fmt.Errorf("%w: %w", ErrBadFormat, err)
		}
	}
	size, err := w.finish()
	if err != nil {
		return 0, err
	}
	if err := os.Rename(path+".part", path); err != nil {
		os.Remove(path + ".part")
		return 0, err
	}
	p.used += size - old
	return size, nil
}

// Delete removes a prompt.
func (p *Prompts) Delete(domain, name string) error {
	path, err := p.path(domain, name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoPrompt, name)
	}
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	if p.used >= 0 {
		p.used -= fi.Size()
	}
	return nil
}

// Open opens a prompt for playing.
func (p *Prompts) Open(domain, name string) (*os.File, error) {
	path, err := p.path(domain, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoPrompt, name)
	}
	return f, err
}

// URL is the signed download path of a prompt (relative to the REST API's
// base), valid for URLValidity.
func (p *Prompts) URL(domain, name string, now time.Time) (string, error) {
	f, err := p.Open(domain, name)
	if err != nil {
		return "", err
	}
	f.Close()
	exp := strconv.FormatInt(now.Add(URLValidity).Unix(), 10)
	return "/mediaservice/" + url.PathEscape(domain) + "/promptfile/" + url.PathEscape(name) + "/download?expires=" + exp + "&signature=" + p.sign(domain, name, exp), nil
}

func (p *Prompts) sign(domain, name, exp string) string {
	m := hmac.New(sha256.New, p.key)
	fmt.Fprintf(m, "prompt\x00%s\x00%s\x00%s", domain, name, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: a download URL altered, for another file, or expired.
var ErrBadSignature = errors.New("prompt URL signature invalid or expired")

// Download opens the prompt a signed URL names, after checking it.
func (p *Prompts) Download(domain, name, expires, signature string, now time.Time) (*os.File, error) {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || now.Unix() > exp || !hmac.Equal([]byte(signature), []byte(p.sign(domain, name, expires))) {
		return nil, ErrBadSignature
	}
	return p.Open(domain, name)
}

// wavWriter streams A-law samples to a WAV file and writes the sizes into
// its header when finished: constant memory however long the recording.
type wavWriter struct {
	f   *os.File
	bw  *bufio.Writer
	n   int64
	buf [1024]byte
}

func newWAVWriter(path string) (*wavWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := &wavWriter{f: f, bw: bufio.NewWriterSize(f, 8<<10)}
	h, err := audiofile.WAVHeader(audiofile.Alaw, 0)
	if err == nil {
		_, err = w.bw.Write(h)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

func (w *wavWriter) size() int64 { return w.n }

// write appends pcm, A-law encoded. Allocation-free.
func (w *wavWriter) write(pcm []int16) error {
	for len(pcm) > 0 {
		n := min(len(pcm), len(w.buf))
		dsp.AlawEncode(w.buf[:n], pcm[:n])
		if _, err := w.bw.Write(w.buf[:n]); err != nil {
			return err
		}
		w.n += int64(n)
		pcm = pcm[n:]
	}
	return nil
}

// finish writes the header with the final sizes, syncs and closes; it
// returns the file's size.
func (w *wavWriter) finish() (int64, error) {
	err := w.bw.Flush()
	if err == nil {
		var h []byte
		if h, err = audiofile.WAVHeader(audiofile.Alaw, int(w.n)); err == nil {
			_, err = w.f.WriteAt(h, 0)
		}
	}
	if err == nil {
		err = w.f.Sync()
	}
	var size int64
	if fi, serr := w.f.Stat(); serr == nil {
		size = fi.Size()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.f.Name())
		return 0, err
	}
	return size, nil
}

func (w *wavWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}
