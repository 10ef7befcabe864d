package certs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce is how long the files must stay quiet before a reload:
// writers that do not rename into place emit several events per file, and
// a certificate and its key are usually replaced one after the other.
const watchDebounce = 200 * time.Millisecond

// Watch reloads the store when its files change, until ctx ends; it then
// returns nil. It watches the directories that hold the files, not the
// files themselves: an atomic rename or a symlink swap (how Kubernetes
// updates a mounted secret) replaces the file a watch would be attached
// to, and the watch would go silent. Every burst of events in those
// directories is followed, after a short quiet time, by a comparison of
// the files' bytes with the ones in service; only a change reloads.
//
// A reload that fails keeps the previous certificates in service and is
// logged once per broken content; a later good content is picked up.
// Errors are returned only when the watch cannot be set up.
func (s *Store) Watch(ctx context.Context, log *slog.Logger) error {
	return s.watch(ctx, log, nil)
}

// watch is Watch; ready, when not nil, is closed once every directory is
// watched.
func (s *Store) watch(ctx context.Context, log *slog.Logger, ready chan<- struct{}) error {
	if log == nil {
		log = slog.Default()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch certificate files: %w", err)
	}
	defer w.Close()
	for _, d := range s.dirs() {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch certificate directory %s: %w", d, err)
		}
	}
	if ready != nil {
		close(ready)
	}

	quiet := time.NewTimer(watchDebounce)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			quiet.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow means events were lost: compare the files anyway.
			log.Warn("certificate watch error", "err", err)
			quiet.Reset(watchDebounce)
		case <-quiet.C:
			s.reloadAndLog(log)
		}
	}
}

func (s *Store) reloadAndLog(log *slog.Logger) {
	changed, err := s.reloadIfChanged()
	if err != nil {
		log.Error("certificate reload failed, keeping the previous one: " + err.Error())
		return
	}
	if !changed {
		return
	}
	for _, inf := range s.Infos() {
		log.Info("certificate reloaded", "source", inf.Source, "serial", inf.Serial,
			"names", inf.Names, "not_after", inf.NotAfter)
	}
}
