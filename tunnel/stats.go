package tunnel

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is a consistent-enough copy of the server's counters, taken
// without stopping the relay: byte counts are atomics read one by one.
type Snapshot struct {
	Time     time.Time
	Open     int    // tunnels open now
	Total    uint64 // tunnels opened since start
	Failed   uint64 // requests the proxy answered with an error, and upgrades the backend refused
	Requests uint64 // plain HTTP requests proxied
	Up       int64  // bytes client to backend, all tunnels
	Down     int64  // bytes backend to client, all tunnels
	Tunnels  []TunnelInfo
}

// TunnelInfo describes one open tunnel.
type TunnelInfo struct {
	ID      uint64
	Client  string
	Path    string
	Backend string
	Start   time.Time
	Up      int64
	Down    int64
}

// registry holds the live tunnels, so that Snapshot can read them and
// Shutdown can reach them (http.Server.Shutdown does not track hijacked
// connections). The lock is taken on open, close and snapshot, never per read.
type registry struct {
	mu      sync.Mutex
	live    map[*Tunnel]struct{}
	wg      sync.WaitGroup
	nextID  atomic.Uint64
	failed  atomic.Uint64
	plain   atomic.Uint64
	doneUp  int64 // bytes of closed tunnels, under mu
	doneDn  int64
	stopped bool // after shutdown no tunnel may be added
}

func (r *registry) add(t *Tunnel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	if r.live == nil {
		r.live = make(map[*Tunnel]struct{})
	}
	r.live[t] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *registry) remove(t *Tunnel) {
	r.mu.Lock()
	delete(r.live, t)
	r.doneUp += t.bytes[Up].Load()
	r.doneDn += t.bytes[Down].Load()
	r.mu.Unlock()
	r.wg.Done()
}

// stopAll closes every live tunnel and refuses new ones.
func (r *registry) stopAll() {
	r.mu.Lock()
	r.stopped = true
	for t := range r.live {
		t.stop()
	}
	r.mu.Unlock()
}

func (r *registry) snapshot(now time.Time) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Time:     now,
		Open:     len(r.live),
		Total:    r.nextID.Load(),
		Failed:   r.failed.Load(),
		Requests: r.plain.Load(),
		Up:       r.doneUp,
		Down:     r.doneDn,
		Tunnels:  make([]TunnelInfo, 0, len(r.live)),
	}
	for t := range r.live {
		up, down := t.bytes[Up].Load(), t.bytes[Down].Load()
		s.Up += up
		s.Down += down
		s.Tunnels = append(s.Tunnels, TunnelInfo{
			ID: t.ID, Client: t.Client, Path: t.Path, Backend: t.Backend,
			Start: t.Start, Up: up, Down: down,
		})
	}
	slices.SortFunc(s.Tunnels, func(a, b TunnelInfo) int { return cmp.Compare(a.ID, b.ID) })
	return s
}
