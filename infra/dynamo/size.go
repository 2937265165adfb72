package dynamo

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxItemBytes is DynamoDB's item size limit, 400 KB (DynamoDB counts
// 1 KB as 1024 bytes), measured as itemSize measures.
const maxItemBytes = 400 * 1024

// itemSize is the size DynamoDB counts against maxItemBytes: the sum over
// attributes of the UTF-8 length of the name plus the size of the value
// (AWS developer guide, "DynamoDB item sizes and formats"). A value's size
// is: a string's UTF-8 length; a binary's raw length (not its base64 on
// the wire); 1 for a Boolean or null; for a number, 1 byte plus 1 per pair
// of significant digits, aligned on the decimal point, plus 1 if negative
// (the guide says "approximately 1 byte per two significant digits plus 1
// byte": this count is never below that); for a list or map, 3 bytes plus
// 1 per element plus the elements' sizes (and a map's key names); for a
// set, the sum of its members.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is the stored size of the decimal number s: 1 byte, plus one
// per base-100 digit of its significant digits (pairs aligned on the
// decimal point), plus 1 when negative. Zero is 1 byte. s is what DynamoDB
// accepts: an optional sign, digits with an optional point, an optional
// exponent; anything else counts by its length, which is larger.
func numberSize(n string) int {
	malformed := len(n) + 2
	neg := strings.HasPrefix(n, "-")
	s := strings.TrimLeft(n, "+-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, ok := atoi(s[i+1:])
		if !ok {
			return malformed
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	// The power of ten of the first digit of digits.
	top := len(intPart) - 1 + exp
	for _, c := range digits {
		if c < '0' || c > '9' {
			return malformed
		}
	}
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	digits = strings.Trim(digits, "0")
	if digits == "" {
		return 1
	}
	top -= lead
	bottom := top - len(digits) + 1
	pairs := floorHalf(top) - floorHalf(bottom) + 1
	size := 1 + pairs
	if neg {
		size++
	}
	return size
}

// floorHalf is ⌊p/2⌋ for any integer p.
func floorHalf(p int) int {
	if p >= 0 {
		return p / 2
	}
	return -((-p + 1) / 2)
}

// atoi parses a small signed decimal exponent.
func atoi(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
