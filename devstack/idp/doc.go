// Package idp is the local stack's development identity provider: it
// signs JWTs (ES256) for local users and verifies them the way API Gateway's
// JWT authorizer does (signature, issuer, audience, expiry, not-before), so
// the query function's access rules run locally exactly as deployed, from
// real signed tokens, never by skipping them.
package idp
