package config

// Node is one logical line of keepalived.conf after lexing, include expansion
// and preprocessing: a keyword, its arguments, and, when the line opened a
// "{ ... }" block, the lines inside it. It is the parser's input, internal to
// this package's pipeline; code outside config works with the typed model.
//
// Inside blocks whose entries are not keywords (virtual_ipaddress,
// notification_email, ...), Name is the first word of the line (an address,
// an e-mail) and Args the rest.
type Node struct {
	Pos      Pos
	Name     string
	Args     []string
	HasBlock bool    // the line opened a block, even an empty one
	Block    []*Node // the lines inside the block, in order
	// EndPos is where the block's closing brace was found; zero when HasBlock is false.
	EndPos Pos
}
