package api

import "time"

// ReadyReport is the body of GET /readyz (200 when Ready, else 503).
type ReadyReport struct {
	Ready bool `json:"ready"`
	// Generation counts the snapshots installed (start and reloads).
	Generation uint64 `json:"generation"`
	// Checks are the readiness checks in order: policies, models,
	// lookups, store, watch, serving.
	Checks     []Check       `json:"checks"`
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
}

// Check is one line of the readiness report.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ReloadStatus describes the last reload attempt.
type ReloadStatus struct {
	At         time.Time `json:"at"`
	Trigger    string    `json:"trigger"` // start, watch, admin
	Result     string    `json:"result"`  // success, failure, unchanged
	Error      string    `json:"error,omitempty"`
	Generation uint64    `json:"generation"`
}

// ReloadResponse is the body of POST /v1/admin/reload: the attempt and,
// when it succeeded, the policies now loaded (200; 422 on failure).
type ReloadResponse struct {
	ReloadStatus
	Policies []PolicyReport `json:"policies,omitempty"`
}

// PoliciesReport is GET /v1/policies with the admin token.
type PoliciesReport struct {
	Generation uint64         `json:"generation"`
	LoadedAt   time.Time      `json:"loaded_at"`
	Default    string         `json:"default_policy,omitempty"`
	Policies   []PolicyReport `json:"policies"`
	LastReload *ReloadStatus  `json:"last_reload,omitempty"`
}

// PolicyReport is one loaded policy and its rollout.
type PolicyReport struct {
	Name     string          `json:"name"`
	Default  bool            `json:"default"`
	Key      string          `json:"rollout_key"`
	Seed     string          `json:"rollout_seed,omitempty"`
	Versions []VersionReport `json:"versions"`
}

// VersionReport is one loaded version of a policy.
type VersionReport struct {
	Version      string        `json:"version"`
	Role         string        `json:"role"` // champion, challenger, shadow, pinned
	Percent      float64       `json:"percent"`
	Digest       string        `json:"digest"`
	SourceSHA256 string        `json:"source_sha256"`
	Path         string        `json:"path"`
	Kind         string        `json:"kind"` // source or artifact
	LoadedAt     time.Time     `json:"loaded_at"`
	Events       []string      `json:"events"`
	Rules        int           `json:"rules"`
	Inputs       []InputReport `json:"inputs"`
	Lists        []ListReport  `json:"lists,omitempty"`
	Windows      []string      `json:"windows,omitempty"`
	Models       []ModelReport `json:"models,omitempty"`
	// Runtime describes the model runtime (riskd's ModelDescriber).
	Runtime  any      `json:"model_runtime,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// InputReport is one declared input.
type InputReport struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
}

// ListReport is one named list.
type ListReport struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Entries int    `json:"entries"`
	Digest  string `json:"digest,omitempty"`
}

// ModelReport is one declared model.
type ModelReport struct {
	Name    string  `json:"name"`
	Path    string  `json:"path"`
	Digest  string  `json:"digest,omitempty"`
	Timeout float64 `json:"timeout_seconds"`
	OnError float64 `json:"on_error"`
	Loaded  bool    `json:"loaded"`
	Error   string  `json:"error,omitempty"`
}

// PublicPolicies is GET /v1/policies without the admin token: names,
// versions and digests only.
type PublicPolicies struct {
	Generation uint64         `json:"generation"`
	Default    string         `json:"default_policy,omitempty"`
	Policies   []PublicPolicy `json:"policies"`
	Note       string         `json:"note"`
}

// PublicPolicy is one policy as anyone may see it.
type PublicPolicy struct {
	Name     string          `json:"name"`
	Versions []PublicVersion `json:"versions"`
}

// PublicVersion is one version as anyone may see it.
type PublicVersion struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
}
