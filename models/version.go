package models

// VersionLine is the onnxruntime line of riskc's and riskd's --version:
// the version and path of the library that would be loaded, and the
// release this build speaks to, or why the library is not loadable
// (policies without models do not need it).
func VersionLine() string {
	if err := Init(Options{}); err != nil {
		return "onnxruntime not loaded (built for " + ortVersion + "): " + err.Error()
	}
	path, v := Loaded()
	return "onnxruntime " + v + " (built for " + ortVersion + "; " + path + ")"
}
