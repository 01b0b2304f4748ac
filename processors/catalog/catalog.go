// Package catalog keeps the topic catalog: a group table from topic id to
// topic name, fed by the ids the re-key group harvests from CreateTopics,
// DeleteTopics and Metadata responses. The groups that audit requests look
// names up in it to render Fetch and Produce v13+, which carry only topic
// ids.
package catalog

import (
	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// Merge folds a newly seen entry into the known one. Topic ids are never
// reused, so once an id is deleted it stays deleted even if a Metadata
// response logged before the deletion arrives later.
func Merge(old, seen *schemas.TopicInfo) *schemas.TopicInfo {
	if old == nil {
		return seen
	}
	merged := *seen
	merged.Deleted = old.Deleted || seen.Deleted
	return &merged
}

// Update stores each harvested entry under its cluster|id key.
func Update() goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		seen, _ := msg.(*schemas.TopicInfo) // the input codec yields *TopicInfo
		old, _ := ctx.Value().(*schemas.TopicInfo)
		if m := Merge(old, seen); old == nil || *m != *old {
			ctx.SetValue(m)
		}
	}
}
