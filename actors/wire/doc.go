// Package wire is the protobuf of the messages flashsale nodes send each
// other in a cluster: frames of calls to product actors and their answers.
// The actors package converts its requests to and from these at the edge.
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
