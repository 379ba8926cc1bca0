package compiler

// Type is the static type of an expression or declaration.
type Type uint8

// The types of the language. Int and Float are both "numbers" and mix
// freely; the list types only appear on the right of `in`.
const (
	Invalid Type = iota // the type of an expression that already has an error
	Int
	Float
	Bool
	String
	Time
	Duration
	StringList
	NumberList
)

var typeNames = [...]string{
	Invalid:    "invalid",
	Int:        "int",
	Float:      "float",
	Bool:       "bool",
	String:     "string",
	Time:       "time",
	Duration:   "duration",
	StringList: "list of string",
	NumberList: "list of number",
}

// String returns the name users see in diagnostics.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// IsNumber reports whether t is int or float.
func (t Type) IsNumber() bool { return t == Int || t == Float }

// IsList reports whether t is one of the list types.
func (t Type) IsList() bool { return t == StringList || t == NumberList }

// inputTypes are the types an input field may declare.
var inputTypes = map[string]Type{"int": Int, "float": Float, "bool": Bool, "string": String, "time": Time}

// arith returns the result of a numeric operation on a and b.
func arith(a, b Type) Type {
	if a == Int && b == Int {
		return Int
	}
	return Float
}
