package storetest

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Proxy is a TCP proxy between the code under test and its database
// server, for tests of what that code does when the network to the
// database fails: cut, stalled, slow, or broken right after a given
// request. It never touches the database server itself; a cut only closes
// the connections that pass through it.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop, and every connection's pumps

	mu      sync.Mutex // guards everything below
	cut     bool
	stalled bool
	closed  bool
	latency time.Duration
	links   map[*link]struct{}
	traps   []*trap
}

// link is one client connection and the server connection it is
// forwarded to.
type link struct {
	proxy          *Proxy
	client, server net.Conn
	done           chan struct{} // closed once both connections are closed
	once           sync.Once

	mu      sync.Mutex // guards swallow, fired and stuck
	swallow bool       // a DropAfter trap fired: the server's next answer ends the link unheard
	fired   chan struct{}
	stuck   bool // forwards nothing more, in either direction, until it is closed
}

// trap breaks the first connection whose client sends pattern.
type trap struct {
	pattern []byte
	deliver bool // forward the matching chunk to the server first
	fired   chan struct{}
}

// chunk is data read from one side, to be written to the other at due.
type chunk struct {
	data []byte
	due  time.Time
}

// trapAnswerWait bounds how long a DropAfter trap waits for the server's
// answer before it cuts the connection anyway.
const trapAnswerWait = 5 * time.Second

// NewProxy listens on a free port of 127.0.0.1 and forwards every
// connection to target (host:port). It is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// ViaProxy starts a proxy in front of the MySQL server of a flashsale
// database URL (mysql://DSN, as URL makes) and returns it with the URL
// that reaches the same database through it.
func ViaProxy(t testing.TB, url string) (*Proxy, string) {
	t.Helper()
	dsn, ok := strings.CutPrefix(url, "mysql://")
	if !ok {
		t.Fatalf("proxy: %q is not a mysql:// URL", url)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("proxy: the DSN connects over %q; want tcp", cfg.Net)
	}
	p := NewProxy(t, cfg.Addr)
	cfg.Addr = p.Addr()
	return p, "mysql://" + cfg.FormatDSN()
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection, both ways, and makes every new one
// close as soon as it is accepted, until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := p.takeLinks()
	p.mu.Unlock()
	for _, l := range links {
		l.close(true)
	}
}

// Stall makes the network drop every packet: nothing more is forwarded on
// any open connection, in either direction, and new connections are
// accepted but get nothing through, until Restore. Neither side is told;
// each waits until it gives up.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	for l := range p.links {
		l.setStuck()
	}
	p.mu.Unlock()
}

// Restore ends a Cut or a Stall: new connections pass again. Connections
// that stalled are closed, as their TCP timeouts would eventually close
// them, rather than resumed.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.stalled = false, false
	var stuck []*link
	for l := range p.links {
		if l.isStuck() {
			stuck = append(stuck, l)
		}
	}
	p.mu.Unlock()
	for _, l := range stuck {
		l.close(true)
	}
}

// SetLatency delays every chunk of data forwarded, in each direction, by
// d from when the proxy read it. Zero forwards at once.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// DropAfter arms a trap for the next chunk a client sends that contains
// pattern: the chunk is forwarded, the server's answer is swallowed, and
// then the connection is closed both ways. The server acted on the
// request; the client never hears how. The returned channel is closed
// once the trap has fired and the client's connection is closed.
func (p *Proxy) DropAfter(pattern []byte) <-chan struct{} {
	return p.arm(pattern, true)
}

// DropBefore arms a trap for the next chunk a client sends that contains
// pattern: the chunk is not forwarded, and the connection is closed both
// ways at once. The returned channel is closed once the trap has fired.
func (p *Proxy) DropBefore(pattern []byte) <-chan struct{} {
	return p.arm(pattern, false)
}

func (p *Proxy) arm(pattern []byte, deliver bool) <-chan struct{} {
	tr := &trap{pattern: bytes.Clone(pattern), deliver: deliver, fired: make(chan struct{})}
	p.mu.Lock()
	p.traps = append(p.traps, tr)
	p.mu.Unlock()
	return tr.fired
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	links := p.takeLinks()
	p.mu.Unlock()
	p.ln.Close()
	for _, l := range links {
		l.close(true)
	}
	p.wg.Wait()
}

// takeLinks empties the set of open links and returns them. p.mu is held.
func (p *Proxy) takeLinks() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	clear(p.links)
	return links
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		if !refuse {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if refuse {
			abort(c)
			continue
		}
		go p.connect(c)
	}
}

// connect dials the server for a client and starts forwarding.
func (p *Proxy) connect(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		abort(c)
		return
	}
	l := &link{proxy: p, client: c, server: s, done: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		l.close(true)
		return
	}
	if p.stalled {
		l.setStuck()
	}
	p.links[l] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go p.pump(l, c, s, true)
	go p.pump(l, s, c, false)
}

// pump forwards what src sends to dst, through a delay line: a reader
// stamps each chunk with when it is due, a writer writes it then. up is
// the client-to-server direction, where traps look.
func (p *Proxy) pump(l *link, src, dst net.Conn, up bool) {
	defer p.wg.Done()
	line := make(chan chunk, 64)
	p.wg.Add(1)
	go p.deliver(l, dst, line)
	defer close(line)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			data := bytes.Clone(buf[:n])
			if !up && l.swallowing() {
				// The answer to a trapped request: nobody hears it.
				l.close(true)
				return
			}
			if up {
				if tr := p.springTrap(data); tr != nil {
					if !tr.deliver {
						l.setFired(tr.fired)
						l.close(true)
						return
					}
					l.setSwallow(tr.fired)
					time.AfterFunc(trapAnswerWait, func() { l.close(true) })
				}
			}
			select {
			case line <- chunk{data: data, due: time.Now().Add(p.currentLatency())}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// deliver writes the chunks of a delay line when they are due. When the
// source ends, the link ends once what it sent is written.
func (p *Proxy) deliver(l *link, dst net.Conn, line <-chan chunk) {
	defer p.wg.Done()
	for c := range line {
		if wait := time.Until(c.due); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-l.done:
				timer.Stop()
				return
			}
		}
		if l.isStuck() {
			<-l.done
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			l.close(true)
			return
		}
	}
	if !l.swallowing() {
		l.close(false)
	}
}

func (p *Proxy) currentLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

// springTrap removes and returns the first armed trap that data matches.
func (p *Proxy) springTrap(data []byte) *trap {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, tr := range p.traps {
		if bytes.Contains(data, tr.pattern) {
			p.traps = append(p.traps[:i], p.traps[i+1:]...)
			return tr
		}
	}
	return nil
}

func (l *link) swallowing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.swallow
}

func (l *link) isStuck() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stuck
}

func (l *link) setStuck() {
	l.mu.Lock()
	l.stuck = true
	l.mu.Unlock()
}

func (l *link) setSwallow(fired chan struct{}) {
	l.mu.Lock()
	l.swallow, l.fired = true, fired
	l.mu.Unlock()
}

func (l *link) setFired(fired chan struct{}) {
	l.mu.Lock()
	l.fired = fired
	l.mu.Unlock()
}

// close closes both connections once; abort resets them instead of
// ending them in order. A trap that broke the link fires then.
func (l *link) close(abortive bool) {
	l.once.Do(func() {
		if abortive {
			abort(l.client)
			abort(l.server)
		} else {
			l.client.Close()
			l.server.Close()
		}
		close(l.done)
		l.proxy.mu.Lock()
		delete(l.proxy.links, l)
		l.proxy.mu.Unlock()
		l.mu.Lock()
		fired := l.fired
		l.mu.Unlock()
		if fired != nil {
			close(fired)
		}
	})
}

// abort closes a connection with a reset, as a failing network would
// leave it, rather than an orderly end.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
