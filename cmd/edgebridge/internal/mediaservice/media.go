package mediaservice

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine/media"
)

// dupWindow: a key heard both ways within this is one key press.
const dupWindow = 300 * time.Millisecond

// frameSamples is one 20 ms frame at 8 kHz.
const frameSamples = media.FrameSamples

// mediaLoop runs one participant's audio while it is in the IVR: each 20 ms
// it reads a frame (paced by the session's clock), detects in-band DTMF,
// takes RFC 4733 keys, writes the next frame of what is playing (or
// silence), and feeds the recorder the two directions mixed. Allocation-free
// per frame; files are streamed.
type mediaLoop struct {
	s       *media.Session
	prompts *Prompts
	domain  string
	keys    chan byte // received keys, to the IVR
	onError func(what string, err error)

	in, out [frameSamples]int16
	mix     [frameSamples]int16
	det     *dsp.DTMFDetector
	// The last key of each kind: a peer that sends a key both as an RFC
	// 4733 event and in the audio is heard once.
	lastEvent, lastInband       time.Time
	lastEventKey, lastInbandKey byte

	mu       sync.Mutex
	queue    []phrase // still to play
	cur      *audioFile
	playDone chan struct{} // closed when queue and cur are empty
	bg       *background
	bgFile   *audioFile
	bgWait   int // frames of repeatPause left
	rec      *recSlot
}

// audioFile is a prompt being played.
type audioFile struct {
	f *os.File
	r *audiofile.Reader
}

func openAudio(p *Prompts, domain, name string) (*audioFile, error) {
	f, err := p.Open(domain, name)
	if err != nil {
		return nil, err
	}
	r, err := audiofile.NewReader(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &audioFile{f: f, r: r}, nil
}

func (a *audioFile) close() {
	if a != nil {
		a.f.Close()
	}
}

// read fills pcm; false at the end of the file.
func (a *audioFile) read(pcm []int16) bool {
	n := 0
	for n < len(pcm) {
		k, err := a.r.Read(pcm[n:])
		n += k
		if err != nil {
			clear(pcm[n:])
			return n > 0
		}
	}
	return true
}

func newMediaLoop(s *media.Session, p *Prompts, domain string, rec *recSlot, onError func(string, error)) *mediaLoop {
	closed := make(chan struct{})
	close(closed)
	return &mediaLoop{s: s, prompts: p, domain: domain, keys: make(chan byte, 64), onError: onError, rec: rec,
		det: dsp.NewDTMFDetector(dsp.DTMFConfig{}), playDone: closed}
}

// run pumps frames until the session ends or stop is closed.
func (m *mediaLoop) run(stop <-chan struct{}) error {
	emit := func(ev dsp.DigitEvent) {
		now := time.Now()
		dup := ev.Key == m.lastEventKey && now.Sub(m.lastEvent) < dupWindow
		m.lastInband, m.lastInbandKey = now, ev.Key
		if !dup {
			m.key(ev.Key)
		}
	}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := m.s.ReadFrame(m.in[:]); err != nil {
			return err
		}
		m.det.Process(m.in[:], emit)
		for more := true; more; {
			select {
			case d, ok := <-m.s.Digits():
				if !ok {
					more = false
					break
				}
				now := time.Now()
				dup := d.Key == m.lastInbandKey && now.Sub(m.lastInband) < dupWindow
				m.lastEvent, m.lastEventKey = now, d.Key
				if !dup {
					m.key(d.Key)
				}
			default:
				more = false
			}
		}
		m.next(m.out[:])
		if err := m.s.WriteFrame(m.out[:]); err != nil {
			return err
		}
		m.rec.write(m.mix[:], m.in[:], m.out[:])
	}
}

func (m *mediaLoop) key(k byte) {
	select {
	case m.keys <- k:
	default: // nobody collects: a flood of keys is dropped, not queued
	}
}

// mixFrames adds a and b with saturation.
func mixFrames(dst, a, b []int16) {
	for i := range dst {
		v := int32(a[i]) + int32(b[i])
		dst[i] = int16(max(min(v, 32767), -32768))
	}
}

// next fills pcm with what plays now: the phrases, else the background
// prompt, else silence.
func (m *mediaLoop) next(pcm []int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if m.cur != nil {
			if m.cur.read(pcm) {
				return
			}
			m.cur.close()
			m.cur = nil
		}
		if len(m.queue) == 0 {
			m.finishPlay()
			break
		}
		ph := m.queue[0]
		m.queue = m.queue[1:]
		a, err := m.openPhrase(ph)
		if err != nil {
			m.onError("phraseError", err)
			continue
		}
		m.cur = a
	}
	if m.bg != nil {
		if m.bgWait > 0 {
			m.bgWait--
		} else {
			if m.bgFile == nil {
				a, err := openAudio(m.prompts, m.domain, m.bg.FileName)
				if err != nil {
					m.onError("phraseError", err)
					m.bg = nil
					clear(pcm)
					return
				}
				m.bgFile = a
			}
			if m.bgFile.read(pcm) {
				return
			}
			m.bgFile.close()
			m.bgFile = nil
			m.bgWait = int(m.bg.RepeatPause.dur(0) / (20 * time.Millisecond))
		}
	}
	clear(pcm)
}

var errTTS = errors.New("text to speech needs a cloud service a gateway cannot reach; only prompt files (fileName) play here")

func (m *mediaLoop) openPhrase(ph phrase) (*audioFile, error) {
	if ph.FileName == "" {
		if ph.Format != "" {
			return nil, errTTS
		}
		return nil, errors.New("phrase without fileName")
	}
	return openAudio(m.prompts, m.domain, ph.FileName)
}

// finishPlay marks the playlist done; called with mu held.
func (m *mediaLoop) finishPlay() {
	select {
	case <-m.playDone:
	default:
		close(m.playDone)
	}
}

// play replaces what plays with phrases; the returned channel closes when
// they have all been played (or stopped).
func (m *mediaLoop) play(phrases []phrase) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.close()
	m.cur = nil
	m.finishPlay()
	m.queue = append(m.queue[:0], phrases...)
	m.playDone = make(chan struct{})
	if len(phrases) == 0 {
		close(m.playDone)
	}
	return m.playDone
}

// stopPhrase ends the phrase playing (bargeIn current) or all of them.
func (m *mediaLoop) stopPhrase(all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.close()
	m.cur = nil
	if all {
		m.queue = m.queue[:0]
	}
}

// setBackground plays b between commands (nil or stop: none).
func (m *mediaLoop) setBackground(b *background) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b != nil && !b.Stop && b.FileName == "" && b.URL != "" {
		m.onError("phraseError", errors.New("backgroundPrompt url: the gateway plays prompt files only (fileName)"))
		b = nil
	}
	if b != nil && b.Stop {
		b = nil
	}
	if b == nil || m.bg == nil || b.FileName != m.bg.FileName {
		m.bgFile.close()
		m.bgFile = nil
		m.bgWait = 0
	}
	m.bg = b
}

// close releases the files.
func (m *mediaLoop) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.close()
	m.bgFile.close()
	m.cur, m.bgFile = nil, nil
	m.finishPlay()
}
