//go:build !unix

package dbtest

import (
	"context"
	"errors"
)

type serverBins struct{ initdb string }

type cluster struct{ dir string }

// errNoCluster: elsewhere than on Unix systems, the tests need EnvURL or a
// server at DefaultURL.
var errNoCluster = errors.New("throwaway clusters are made on Unix systems only")

func findServerBins() (serverBins, error)                        { return serverBins{}, errNoCluster }
func startCluster(context.Context, serverBins) (*cluster, error) { return nil, errNoCluster }
func removeStaleClusters(serverBins)                             {}
func (c *cluster) URL() string                                   { return "" }
func (c *cluster) stop() error                                   { return nil }
