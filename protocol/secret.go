package protocol

import (
	"strings"
	"unicode"
)

// IsSecretKey reports whether a JSON object key names a secret value. It is
// the one rule edgesync applies everywhere a value is masked: the agent in
// its get_config result, the cloud in every read a non-admin makes and in
// audit diffs, the dashboard and the TypeScript client. The table of cases
// both the Go and the TypeScript implementations are tested against is
// testdata/secret-keys.json.
//
// The key is split into words at punctuation, at lower-to-upper case
// changes ("apiKey" → api, key; "APIKey" → api, key) and between letters
// and digits ("api_key2" → api, key, 2). The key is secret when a word
//
//   - contains passw, passphrase, secret, token, credential, authoriz,
//     private or cookie, or
//   - is pem, or is or ends with key or keys (apikey, signingkeys),
//
// unless its last word is file, path, dir or filename: such a key says
// where a secret is kept ("token_file"), not what it is.
func IsSecretKey(key string) bool {
	words := keyWords(key)
	if len(words) == 0 {
		return false
	}
	switch words[len(words)-1] {
	case "file", "path", "dir", "filename":
		return false
	}
	for _, w := range words {
		for _, part := range secretWordParts {
			if strings.Contains(w, part) {
				return true
			}
		}
		if w == "pem" || strings.HasSuffix(w, "key") || strings.HasSuffix(w, "keys") {
			return true
		}
	}
	return false
}

var secretWordParts = []string{"passw", "passphrase", "secret", "token", "credential", "authoriz", "private", "cookie"}

// keyWords splits a key into lower-case words (see IsSecretKey).
func keyWords(key string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(key)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if len(cur) > 0 {
			prev := cur[len(cur)-1]
			switch {
			case unicode.IsDigit(r) != unicode.IsDigit(prev):
				flush()
			case unicode.IsUpper(r) && unicode.IsLower(prev):
				flush()
			case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
				flush() // "APIKey": the K starts a word
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}
