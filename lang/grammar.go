package lang

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The participle grammar. These g* structs are the parse tree; parse.go
// converts them into the AST of ast.go, which is what every other package
// sees. Keeping the two apart lets the grammar follow participle's needs
// (one struct per precedence level) while the AST stays small.

var policyLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `(?:#|//)[^\n]*`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "Duration", Pattern: `[0-9]+(?:ms|s|m|h|d)(?:[0-9]+(?:ms|s|m|h|d))*\b`},
	{Name: "Number", Pattern: `[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\\n])*"`},
	// Keywords that may never be names. Grammar literals such as "rule"
	// match them by value; @Ident does not, so `when a > emit` fails at
	// `emit` instead of treating it as a feature name.
	{Name: "Keyword", Pattern: `\b(?:and|or|not|in|between|true|false|fixed|when|emit|reason|on|rule|let|window|model|list|decide)\b`},
	// One dot: LOOKUP.FIELD reads a lookup's field.
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?`},
	{Name: "Op", Pattern: `>=|<=|==|!=|[-+*/%<>(),\[\]{}=]`},
	// Anything else becomes one Invalid token, so a stray character is a
	// syntax error at its place instead of aborting the lexer (which
	// would hide every later error).
	{Name: "Invalid", Pattern: `.`},
})

var policyParser = participle.MustBuild[gFile](
	participle.Lexer(policyLexer),
	participle.Elide("Whitespace", "Comment"),
	participle.Unquote("String"),
	participle.UseLookahead(4),
)

type gFile struct {
	Header *gHeader `parser:"@@?"`
	Decls  []*gDecl `parser:"@@*"`
}

type gHeader struct {
	Pos     lexer.Position
	Name    *gIdent  `parser:"'policy' @@"`
	Version *gString `parser:"('version' @@)?"`
}

type gDecl struct {
	Events *gEvents `parser:"@@"`
	Input  *gInput  `parser:"| @@"`
	List   *gList   `parser:"| @@"`
	Model  *gModel  `parser:"| @@"`
	Lookup *gLookup `parser:"| @@"`
	Window *gWindow `parser:"| @@"`
	Let    *gLet    `parser:"| @@"`
	Rule   *gRule   `parser:"| @@"`
	Decide *gDecide `parser:"| @@"`
}

type gIdent struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

type gString struct {
	Pos   lexer.Position
	Value string `parser:"@String"`
}

type gEvents struct {
	Pos   lexer.Position
	Names []*gIdent `parser:"'events' @@ (',' @@)*"`
}

type gInput struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Fields []*gField `parser:"'input' '{' @@* '}'"`
}

type gField struct {
	Pos  lexer.Position
	Name *gIdent      `parser:"@@"`
	Type *gIdent      `parser:"@@"`
	Mods []*gFieldMod `parser:"@@*"`
}

type gFieldMod struct {
	Pos      lexer.Position
	Optional bool      `parser:"@'optional'"`
	Default  *gLiteral `parser:"| 'default' @@"`
	Between  *gRange   `parser:"| 'between' @@"`
	Op       string    `parser:"| @('>=' | '>' | '<=' | '<')"`
	Bound    *gSigned  `parser:"@@"`
}

type gRange struct {
	Lo *gSigned `parser:"@@ 'and'"`
	Hi *gSigned `parser:"@@"`
}

// gSigned is a number literal with optional `fixed` and sign.
type gSigned struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Fixed  bool   `parser:"@'fixed'?"`
	Neg    bool   `parser:"@'-'?"`
	Number string `parser:"@Number"`
}

type gLiteral struct {
	Pos      lexer.Position
	Number   *gSigned `parser:"@@"`
	Duration *string  `parser:"| @Duration"`
	String   *string  `parser:"| @String"`
	Bool     *string  `parser:"| @('true' | 'false')"`
}

type gList struct {
	Pos   lexer.Position
	Name  *gIdent     `parser:"'list' @@ '='"`
	File  *gString    `parser:"( 'file' @@"`
	Items []*gLiteral `parser:"| '[' (@@ (',' @@)* ','?)? ']' )"`
}

type gModel struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   *gIdent      `parser:"'model' @@ '='"`
	Kind   *gIdent      `parser:"@@"`
	Path   *gString     `parser:"@@"`
	Opts   []*gModelOpt `parser:"'{' @@* '}'"`
}

type gModelOpt struct {
	Pos     lexer.Position
	Inputs  *gIdentList `parser:"  'inputs' @@"`
	Output  *gString    `parser:"| 'output' @@"`
	Index   *gSigned    `parser:"('[' @@ ']')?"`
	Timeout *gDur       `parser:"| 'timeout' @@"`
	OnError *gSigned    `parser:"| 'on_error' @@"`
}

type gLookup struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   *gIdent       `parser:"'lookup' @@ '='"`
	Kind   *gIdent       `parser:"@@"`
	Key    *gString      `parser:"@@"`
	Opts   []*gLookupOpt `parser:"'{' @@* '}'"`
}

type gLookupOpt struct {
	Pos     lexer.Position
	Fields  *gLookupFields `parser:"  'fields' @@"`
	TTL     *gDur          `parser:"| 'ttl' @@"`
	Timeout *gDur          `parser:"| 'timeout' @@"`
	OnError *gIdent        `parser:"| 'on_error' @@"`
}

type gLookupFields struct {
	Pos   lexer.Position
	Items []*gLookupField `parser:"'[' (@@ (',' @@)* ','?)? ']'"`
}

type gLookupField struct {
	Pos  lexer.Position
	Name *gIdent `parser:"@@"`
	Type *gIdent `parser:"@@"`
}

type gIdentList struct {
	Pos   lexer.Position
	Items []*gIdent `parser:"'[' (@@ (',' @@)* ','?)? ']'"`
}

type gDur struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Fixed  bool   `parser:"@'fixed'?"`
	Raw    string `parser:"@Duration"`
}

type gWindow struct {
	Pos  lexer.Position
	Name *gIdent `parser:"'window' @@ '='"`
	Agg  *gIdent `parser:"@@ '('"`
	Arg  *gOr    `parser:"@@? ')'"`
	Over *gDur   `parser:"'over' @@"`
	// By is one input or a parenthesised tuple of inputs.
	Tuple bool      `parser:"'by' ( @'('"`
	By    []*gIdent `parser:"         @@ (',' @@)* ')' | @@ )"`
	On    []*gIdent `parser:"('on' @@ (',' @@)*)?"`
	Where *gOr      `parser:"('where' @@)?"`
}

type gLet struct {
	Pos   lexer.Position
	Name  *gIdent `parser:"'let' @@ '='"`
	Value *gOr    `parser:"@@"`
}

type gRule struct {
	Pos    lexer.Position
	Name   *gIdent   `parser:"'rule' @@"`
	On     []*gIdent `parser:"('on' @@ (',' @@)*)?"`
	When   *gOr      `parser:"'when' @@"`
	Emit   *gEmit    `parser:"'emit' @@"`
	Reason *gString  `parser:"'reason' @@"`
}

type gEmit struct {
	Pos     lexer.Position
	Score   *gUnary `parser:"'score' @@"`
	AtLeast bool    `parser:"| @'at_least'?"`
	Action  *gIdent `parser:"@@"`
}

type gDecide struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Items  []*gDecideItem `parser:"'decide' '{' @@* '}'"`
}

type gDecideItem struct {
	Pos       lexer.Position
	Bias      *gSigned `parser:"'bias' @@"`
	Otherwise *gIdent  `parser:"| 'otherwise' @@"`
	Action    *gIdent  `parser:"| @@ 'when' 'score'"`
	Op        string   `parser:"@('>=' | '>')"`
	Threshold *gSigned `parser:"@@"`
}

// Expressions, one struct per precedence level, loosest first:
// or < and < not < comparison/in/between < + - < * / % < unary minus.

type gOr struct {
	Pos   lexer.Position
	Left  *gAnd   `parser:"@@"`
	Right []*gAnd `parser:"('or' @@)*"`
}

type gAnd struct {
	Pos   lexer.Position
	Left  *gNot   `parser:"@@"`
	Right []*gNot `parser:"('and' @@)*"`
}

type gNot struct {
	Pos lexer.Position
	Not *gNot `parser:"'not' @@"`
	Cmp *gCmp `parser:"| @@"`
}

type gCmp struct {
	Pos  lexer.Position
	Left *gAdd     `parser:"@@"`
	Tail *gCmpTail `parser:"@@?"`
}

type gCmpTail struct {
	Pos     lexer.Position
	Between *gBetween `parser:"'between' @@"`
	Op      string    `parser:"| @('==' | '!=' | '<=' | '>=' | '<' | '>' | 'in' | 'not' 'in')"`
	Right   *gAdd     `parser:"@@"`
}

type gBetween struct {
	Lo *gAdd `parser:"@@ 'and'"`
	Hi *gAdd `parser:"@@"`
}

type gAdd struct {
	Pos   lexer.Position
	Left  *gMul     `parser:"@@"`
	Right []*gAddOp `parser:"@@*"`
}

type gAddOp struct {
	Pos lexer.Position
	Op  string `parser:"@('+' | '-')"`
	X   *gMul  `parser:"@@"`
}

type gMul struct {
	Pos   lexer.Position
	Left  *gUnary   `parser:"@@"`
	Right []*gMulOp `parser:"@@*"`
}

type gMulOp struct {
	Pos lexer.Position
	Op  string  `parser:"@('*' | '/' | '%')"`
	X   *gUnary `parser:"@@"`
}

type gUnary struct {
	Pos     lexer.Position
	Neg     *gUnary   `parser:"'-' @@"`
	Primary *gPrimary `parser:"| @@"`
}

type gPrimary struct {
	Pos      lexer.Position
	EndPos   lexer.Position
	Fixed    *gFixed   `parser:"'fixed' @@"`
	Number   *string   `parser:"| @Number"`
	Duration *string   `parser:"| @Duration"`
	String   *string   `parser:"| @String"`
	Bool     *string   `parser:"| @('true' | 'false')"`
	List     *gListLit `parser:"| @@"`
	Call     *gCall    `parser:"| @@"`
	Name     *string   `parser:"| @Ident"`
	Paren    *gOr      `parser:"| '(' @@ ')'"`
}

type gListLit struct {
	Pos   lexer.Position
	Items []*gOr `parser:"'[' (@@ (',' @@)* ','?)? ']'"`
}

type gFixed struct {
	Neg      bool    `parser:"@'-'?"`
	Number   *string `parser:"( @Number"`
	Duration *string `parser:"| @Duration )"`
}

type gCall struct {
	Fn   *gIdent `parser:"@@ '('"`
	Args []*gOr  `parser:"(@@ (',' @@)*)? ')'"`
}
