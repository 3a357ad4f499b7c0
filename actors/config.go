package actors

import "time"

// Config tunes the product actors.
type Config struct {
	HoldTTL time.Duration // how long a hold keeps its units
	// PaymentTTL is the payment window: how long an order may await
	// payment before it is cancelled and its units released.
	PaymentTTL time.Duration
	// CommitTimeout bounds one batch transaction and one load.
	CommitTimeout time.Duration
	// KeyMemory is how long an actor keeps a committed idempotency key in
	// memory, and an order after it settled; it must outlast the longest
	// request.
	KeyMemory time.Duration
	// ReloadBackoff is the pause between attempts to load a product the
	// database did not give.
	ReloadBackoff time.Duration
	// MaxBacklog is how many requests may wait in one product's mailbox;
	// more are refused at once with ErrOverloaded.
	MaxBacklog int64
	// PassivateAfter is how long a product's actor may sit idle, with no
	// hold or order to watch, before it stops to free its memory. The next
	// request loads it again. It is never shorter than KeyMemory.
	PassivateAfter time.Duration
	// Clock tells the time of holds, orders and their deadlines; nil is
	// the wall clock. Tests set their own to step through time.
	Clock func() time.Time
	// Metrics receive the actors' measurements; nil makes a set that is
	// registered nowhere.
	Metrics *Metrics
	// Writers is how many transactions commit batches at once; each
	// carries the batches of up to 256 products. Zero makes it Pipeline:
	// a product's pipelined batches overlap only in transactions of their
	// own. One suits SQLite. More make smaller groups, each a transaction
	// and a log flush of its own: with 64 clients over 10,000 products on
	// MariaDB, on a machine with 2 cores, one made 6.3k–6.8k holds/s and
	// two 5.2k–6.8k (in turns); on a faster one, two 10.8k and four 8.4k.
	Writers int
	// Pipeline is how many batches of one product may be on their way at
	// once: a product's next batch begins its transaction as soon as the
	// one before it holds the row lock, and the version each expects
	// orders them. It hides the round trips of one batch behind the commit
	// of the one before, which pays when the database is far away; where
	// CPU is what runs out (the database on the server's machine), two make
	// twice as many batches of half the size, each with its own fixed cost,
	// and one is faster: the default.
	Pipeline int
	// IDBlock is how many hold or order ids are reserved from the
	// database at once; a restart skips what is left of a block.
	IDBlock int64
	// WakeDue is how often the host looks in the database for products
	// it owns with something past its time and no actor running (their
	// node died, or nothing touched them since a restart), and starts
	// their actors, which release it. Zero never looks.
	WakeDue time.Duration
	// Node is what this process's actors record as the node of each
	// event: the cluster sets its node id; outside a cluster it is empty.
	Node string
}

// DefaultConfig is the configuration the server starts with.
func DefaultConfig() Config {
	return Config{
		HoldTTL:        2 * time.Minute,
		PaymentTTL:     15 * time.Minute,
		CommitTimeout:  5 * time.Second,
		KeyMemory:      time.Minute,
		ReloadBackoff:  500 * time.Millisecond,
		IDBlock:        1000,
		MaxBacklog:     10_000,
		Pipeline:       1,
		PassivateAfter: 2 * time.Minute,
		WakeDue:        time.Second,
	}
}
