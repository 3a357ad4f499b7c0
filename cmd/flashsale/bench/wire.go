package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// wire is one worker's keep-alive HTTP/1.1 connection, used for the load
// itself. The bench shares the machine with the server it measures, so
// every microsecond it spends per request is taken from the server:
// net/http's client hands each request between the worker, a write loop
// and a read loop (three goroutines, channels, a fresh Request, Response
// and header maps each time), which made the bench measure about half the
// /healthz rate wrk measures. wire writes a request built into one reused
// buffer and reads the answer on the worker's own goroutine, as wrk does;
// setup and the books, which are not timed, stay on net/http.
//
// A wire belongs to one goroutine. A request that gets no answer closes
// the connection; the next one dials again.
type wire struct {
	addr   string // host:port to dial
	host   string // the Host header
	prefix string // the target's path, before every request's
	tls    *tls.Config
	conn   net.Conn
	r      *bufio.Reader
	out    []byte // the request being written
	body   []byte // the last answer's body, reused
}

// newWire makes a wire, not yet connected, to the target.
func newWire(target string) (*wire, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	w := &wire{addr: u.Host, host: u.Host, prefix: u.EscapedPath()}
	if u.Port() == "" {
		w.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		w.tls = &tls.Config{ServerName: u.Hostname()}
	}
	return w, nil
}

func (w *wire) dial() error {
	conn, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
	if err != nil {
		return err
	}
	if w.tls != nil {
		conn = tls.Client(conn, w.tls)
	}
	w.conn = conn
	if w.r == nil {
		w.r = bufio.NewReaderSize(conn, 16<<10)
	} else {
		w.r.Reset(conn)
	}
	return nil
}

func (w *wire) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// do sends one request and reads its answer. The answer's body is only
// valid until the next call.
func (w *wire) do(method, path string, body []byte, header http.Header) answer {
	if w.conn == nil {
		if err := w.dial(); err != nil {
			return answer{err: err}
		}
	}
	b := append(w.out[:0], method...)
	b = append(b, ' ')
	b = append(b, w.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.host...)
	b = append(b, "\r\nUser-Agent: flashsale-bench\r\n"...)
	for k, vs := range header {
		for _, v := range vs {
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	w.out = b

	// One deadline bounds the whole exchange, as the client timeout does
	// for net/http.
	if err := w.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		w.close()
		return answer{err: err}
	}
	if _, err := w.conn.Write(b); err != nil {
		w.close()
		return answer{err: err}
	}
	status, keep, err := w.read()
	if err != nil {
		w.close()
		return answer{err: err}
	}
	if !keep {
		w.close()
	}
	return answer{status: status, body: w.body}
}

var errMalformed = errors.New("malformed HTTP answer")

// read reads one answer: its status, whether the connection stays open,
// and its body into w.body.
func (w *wire) read() (status int, keep bool, err error) {
	line, err := w.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.1 201 Created
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		line, err = w.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	w.body = w.body[:0]
	switch {
	case status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
		return status, keep, nil
	case chunked:
		if w.body, err = appendAll(w.body, httputil.NewChunkedReader(w.r)); err == nil {
			err = w.skipTrailer()
		}
	case length >= 0:
		if int64(cap(w.body)) < length {
			w.body = make([]byte, 0, length)
		}
		w.body = w.body[:length]
		_, err = io.ReadFull(w.r, w.body)
	default:
		// Neither: the body ends with the connection.
		w.body, err = appendAll(w.body, w.r)
		keep = false
	}
	return status, keep, err
}

// skipTrailer reads the trailer of a chunked body, up to its empty line.
func (w *wire) skipTrailer() error {
	for {
		line, err := w.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

// appendAll is io.ReadAll into a reused buffer.
func appendAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
