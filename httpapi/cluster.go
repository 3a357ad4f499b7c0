package httpapi

import (
	"flashsale"
	"net/http"
)

// clusterView is what the cluster's admin endpoints need of the products'
// service: this node's id and view of the members, and where a product
// lives. A single process has no node id; the endpoints answer 404 there.
type clusterView interface {
	ClusterNode() (node string, members []string)
	ClusterOwner(productID int64) string
}

type clusterJSON struct {
	Node    string   `json:"node"`
	Members []string `json:"members"`
}

type ownerJSON struct {
	ProductID int64  `json:"product_id"`
	Owner     string `json:"owner"`
}

// clusterOf is this node's view of the cluster: itself and the members.
func (s *Server) clusterOf() (clusterView, string, []string) {
	c, ok := s.products.(clusterView)
	if !ok {
		return nil, "", nil
	}
	node, members := c.ClusterNode()
	return c, node, members
}

// clusterMembers is GET /api/admin/cluster.
func (s *Server) clusterMembers(w http.ResponseWriter, _ *http.Request) error {
	_, node, members := s.clusterOf()
	if node == "" {
		return errRouteNotFound
	}
	if members == nil {
		members = []string{}
	}
	writeJSON(w, http.StatusOK, clusterJSON{Node: node, Members: members})
	return nil
}

// productOwner is GET /api/admin/cluster/products/{id}: the node that owns
// the product by this node's current view.
func (s *Server) productOwner(w http.ResponseWriter, r *http.Request) error {
	c, node, _ := s.clusterOf()
	if node == "" {
		return errRouteNotFound
	}
	id, err := pathID(r, flashsale.ErrProductNotFound)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ownerJSON{ProductID: id, Owner: c.ClusterOwner(id)})
	return nil
}
