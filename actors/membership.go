package actors

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/labstack/echo"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Membership providers a node may use.
const (
	ProviderAutomanaged = "automanaged"
	ProviderEtcd        = "etcd"
)

// membership is how this node finds the others: the engine's provider, and
// what must be closed besides it when the node leaves.
type membership struct {
	provider cluster.ClusterProvider
	close    func() error
}

// newMembership makes the provider ccfg names. self is the node's cluster,
// once made, and host:port the address others reach its remote at.
func newMembership(ccfg ClusterConfig, system *actor.ActorSystem, self func() *cluster.Cluster, host string, port int) (membership, error) {
	switch ccfg.Provider {
	case ProviderEtcd:
		// Each member keeps a lease of a few seconds under
		// /flashsale/<cluster name>/ and watches the others'.
		p, err := etcd.NewWithConfig("/flashsale", clientv3.Config{Endpoints: ccfg.Etcd, DialTimeout: 5 * time.Second})
		if err != nil {
			return membership{}, fmt.Errorf("cluster etcd: %w", err)
		}
		return membership{provider: p, close: func() error { return nil }}, nil
	case ProviderAutomanaged, "":
	default:
		return membership{}, fmt.Errorf("cluster provider %q: want %s or %s", ccfg.Provider, ProviderAutomanaged, ProviderEtcd)
	}
	mhost, mport, err := splitHostPort("cluster membership", ccfg.Membership)
	if err != nil {
		return membership{}, err
	}
	refresh := ccfg.RefreshTTL
	if refresh <= 0 {
		refresh = 500 * time.Millisecond
	}
	// The provider would serve its health endpoint on every interface; ours
	// listens on the membership address only (echo keeps a preset listener).
	ln, err := net.Listen("tcp", net.JoinHostPort(mhost, strconv.Itoa(mport)))
	if err != nil {
		return membership{}, fmt.Errorf("cluster membership: %w", err)
	}
	health := echo.New()
	health.HideBanner, health.HidePort = true, true
	health.Listener = ln
	health.GET("/_health", func(ctx echo.Context) error {
		return ctx.JSON(http.StatusOK, automanaged.NewNode(ccfg.Name, system.ID, host, port, mport, self().GetClusterKinds()))
	})
	p := automanaged.NewWithTesting(refresh, mport, health, ccfg.Peers...)
	// The provider's Shutdown leaves the health endpoint up; a node that
	// is gone must not answer it.
	return membership{provider: p, close: health.Close}, nil
}
