package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/riskforge/riskforge/models"
	"github.com/riskforge/riskforge/server"
	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
)

// modelLoader loads a version's ONNX models with the models package
// (one Registry per loaded program version; riskd closes it when the
// version is unloaded and no request uses it any more), and logs which
// engine runs each model: a tree ensemble left on onnxruntime under
// models.engine auto says why.
func modelLoader(cfg *config.Config, log *slog.Logger) server.ModelLoader {
	opts := models.Options{
		LibraryPath:    cfg.Models.Library,
		IntraOpThreads: cfg.Models.IntraOpThreads,
		InterOpThreads: cfg.Models.InterOpThreads,
		Sessions:       cfg.Models.Sessions,
		Coalesce:       cfg.Models.Coalesce,
		// Serving and riskc's offline runs (which keep the default) then
		// agree: the native form equals onnxruntime bit for bit.
		ONNXRuntimeOnly: cfg.Models.Engine == config.EngineONNXRuntime,
	}
	return func(prog *vm.Program, policyPath string) (server.ModelSet, error) {
		r, err := models.Load(prog, policyPath, opts)
		if errors.Is(err, models.ErrLibraryNotFound) {
			return nil, fmt.Errorf("%w: %v", server.ErrNoModelRuntime, err)
		}
		if err != nil {
			return nil, err
		}
		for _, mi := range r.Info() {
			log.Info("model loaded", "policy_path", policyPath, "model", mi.Name, "file", mi.File,
				"engine", mi.Engine, "engine_reason", mi.EngineReason, "sessions", mi.Sessions)
		}
		return registry{r}, nil
	}
}

// registry adds the description /v1/policies shows to a models.Registry.
type registry struct{ *models.Registry }

func (r registry) ModelInfo() any { return r.Info() }

// The registry describes its runtime in GET /v1/policies.
var _ server.ModelDescriber = registry{}
