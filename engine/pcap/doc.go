// Package pcap reads and writes packet captures of calls: it reads classic
// pcap and pcapng files holding one RTP stream of G.711 (with or without
// RFC 4733 telephone events) back into PCM and digit events, and writes UDP
// datagrams and TCP segments (a call's SIP over its real transport, and its
// RTP) as a classic pcap that Wireshark, tshark and sngrep open.
//
// PacketReader and Mixer read a capture of any length in constant memory
// (a record at a time; Mixer reads the file twice, first to learn where
// each stream lies, then to place packets in a window of 8 s per stream);
// ReadUDP, ReadRTP and ReadStreams build on them for captures held in
// memory.
//
// OpenRecording is the audio input of offline decoding: a capture, or else
// a WAV or raw G.711 file (dsp/audiofile), as one stream of frames plus the
// capture's RFC 4733 digits on the same time line.
//
// It imports dsp (G.711), dsp/audiofile and github.com/pion/rtp, nothing
// else of ours. The SIP log's pcap export (engine.WritePcap, served by the
// API) and the dtmf and decode commands use it.
package pcap
