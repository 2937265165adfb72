// Command edgesync administers an edgesync fleet: it creates terminals and
// manages their credentials, against the embedded store of the local stack
// or a DynamoDB table.
//
//	edgesync terminals create press-07 [-name "Press 7"] [-group hall-a]
//	edgesync terminals list
//	edgesync terminals rotate press-07 [-overlap 24h]
//	edgesync terminals revoke press-07 [-credential ID]
//	edgesync terminals delete press-07
//	edgesync terminals index-groups
//
// Where it acts (before the subcommand): -api URL -token JWT (a running
// stack's HTTP API as an admin: the local stack while it runs, or a
// deployed one), -table NAME (DynamoDB, with the standard AWS credential
// chain; -dynamodb-endpoint URL for dynalite or LocalStack) or -store PATH
// (embedded, default .edgesync/edgesync.db; the local stack must be
// stopped, it holds the file).
//
// create prints the token once and an agent configuration for the device
// (server_url from -server-url).
//
// Every operation is audited under the caller's AWS identity (the ARN
// sts:GetCallerIdentity answers for the credentials that reach the
// table): the CLI acts with those credentials, so they, not the local
// login, say who acted. Only when STS cannot be reached does the audit
// trail name the OS user, as "cli:os-user:NAME", and the CLI says so on
// standard error; with the embedded store (a local file, no AWS) it is
// "cli:local:NAME".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/infra/embedded"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "edgesync:", err)
		os.Exit(exitCode(err))
	}
}

var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

const usage = `usage: edgesync [-api URL -token JWT | -store PATH | -table NAME [-dynamodb-endpoint URL]] terminals <command>

  -api URL       a running stack's HTTP API, e.g. http://127.0.0.1:8080 (the local stack)
  -token JWT     an admin's token for -api (env EDGESYNC_TOKEN); local stack:
                 go run ./cmd/edgesync-local token -role admin
  -store PATH    the embedded store of a stopped local stack (default .edgesync/edgesync.db)
  -table NAME    a DynamoDB table (AWS credentials; -dynamodb-endpoint URL for dynalite, LocalStack)
  -server-url    the WebSocket URL put in the agent configuration create prints
                 (default ws://127.0.0.1:8081/prod, the local stack's)

commands:
  create ID [-name NAME] [-group GROUP]... [-o FILE] [-log PATH]... [-spool DIR]
                                             register a terminal; prints its token once and
                                             an agent configuration (-o writes it to FILE)
  list                                       list terminals and their credentials
  rotate ID [-overlap 24h]                   issue a new token; old ones work for -overlap
  revoke ID [-credential CRED]               end one credential, or all of them
  delete ID                                  delete a terminal, its credentials and memberships
  index-groups                               write the group index of a DynamoDB table
                                             made before it existed (safe to repeat)
`

// offline is the Pusher of a process that never pushes.
type offline struct{}

func (offline) Push(context.Context, string, []byte) error { return fleet.ErrOffline }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgesync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	defaultStore := ".edgesync/edgesync.db"
	if d := os.Getenv("EDGESYNC_DATA"); d != "" {
		defaultStore = d + "/edgesync.db"
	}
	storePath := fs.String("store", defaultStore, "embedded store file (default: edgesync.db in $EDGESYNC_DATA or .edgesync)")
	table := fs.String("table", os.Getenv("EDGESYNC_TABLE"), "DynamoDB table (overrides -store)")
	endpoint := fs.String("dynamodb-endpoint", os.Getenv("EDGESYNC_DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL")
	api := fs.String("api", os.Getenv("EDGESYNC_API"), "a running stack's HTTP API base URL")
	token := fs.String("token", os.Getenv("EDGESYNC_TOKEN"), "an admin's JWT for -api")
	serverURL := fs.String("server-url", "ws://127.0.0.1:8081/prod", "the WebSocket URL for the agent configuration create prints")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	rest := fs.Args()
	if len(rest) < 2 || rest[0] != "terminals" {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if *api != "" {
		if rest[1] == "index-groups" {
			return errors.New("index-groups works on a DynamoDB table (-table), not through the HTTP API")
		}
		a, err := newAPIAdmin(*api, *token)
		if err != nil {
			return err
		}
		return terminals(ctx, a, *serverURL, rest[1], rest[2:], stdout, stderr)
	}
	store, actor, closeStore, err := openStore(ctx, *storePath, *table, *endpoint, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	svc := fleet.NewService(store, offline{}, fleet.DefaultConfig())
	if rest[1] == "index-groups" {
		return indexGroups(ctx, store, rest[2:], stdout, stderr)
	}
	// The CLI acts with the store's credentials: it is the system principal
	// (an admin that sees every terminal), audited under the caller's
	// identity (openStore).
	return terminals(ctx, serviceAdmin{svc: svc, who: fleet.System(actor)}, *serverURL, rest[1], rest[2:], stdout, stderr)
}

// openStore opens the store and names the caller for the audit trail
// (see the package documentation).
func openStore(ctx context.Context, path, table, endpoint string, stderr io.Writer) (fleet.Store, string, func(), error) {
	if table == "" {
		if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
			return nil, "", nil, err
		}
		st, err := embedded.Open(path)
		if errors.Is(err, embedded.ErrLocked) {
			return nil, "", nil, fmt.Errorf("%s is held by the running local stack: manage its terminals through its HTTP API instead, e.g.\n"+
				"  edgesync -api http://127.0.0.1:8080 -token \"$(go run ./cmd/edgesync-local token -role admin)\" terminals create press-07 -group demo", path)
		}
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store %s: %w", path, err)
		}
		return st, "cli:local:" + login(), func() { st.Close() }, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return dynamo.New(client, table), awsActor(ctx, cfg, stderr), func() {}, nil
}

// stsTimeout bounds the identity lookup; the CLI then falls back.
const stsTimeout = 10 * time.Second

// awsActor is "cli:" and the ARN STS answers for cfg's credentials, or,
// when STS cannot answer, "cli:os-user:" and the OS user, said on stderr.
func awsActor(ctx context.Context, cfg aws.Config, stderr io.Writer) string {
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err == nil && aws.ToString(out.Arn) != "" {
		return "cli:" + aws.ToString(out.Arn)
	}
	if err == nil {
		err = errors.New("no ARN in the answer")
	}
	user := login()
	fmt.Fprintf(stderr, "edgesync: cannot get the caller's AWS identity (sts:GetCallerIdentity: %v); the audit trail names the OS user %q instead\n", err, user)
	return "cli:os-user:" + user
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}

// groups collects repeated -group flags.
type groups []string

func (g *groups) String() string     { return strings.Join(*g, ",") }
func (g *groups) Set(v string) error { *g = append(*g, v); return nil }

func terminals(ctx context.Context, a admin, serverURL, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("terminals "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "display name (create)")
	var gs groups
	fs.Var(&gs, "group", "terminal group, repeatable (create)")
	overlap := fs.Duration("overlap", 24*time.Hour, "how long old tokens keep working (rotate)")
	credential := fs.String("credential", "", "credential id to revoke; all if empty (revoke)")
	out := fs.String("o", "", "write the agent configuration to this file, mode 0600 (create)")
	var logs groups
	fs.Var(&logs, "log", "a log file the agent follows, repeatable (create's agent configuration)")
	spool := fs.String("spool", "", "the agent's spool directory (create's agent configuration; default the agent's /var/lib/edgesync-agent)")
	id := ""
	if cmd != "list" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q (flags go after the terminal id)\n", fs.Arg(0))
		return errUsage
	}
	switch cmd {
	case "create":
		token, err := a.create(ctx, id, *name, gs)
		if err != nil {
			return err
		}
		cfg := agentConfig(id, serverURL, token, logs, *spool)
		if *out != "" {
			if err := os.WriteFile(*out, []byte(cfg+"\n"), 0o600); err != nil {
				return fmt.Errorf("terminal %s is created, but its agent configuration could not be written (rotate its token to get a new one): %w", id, err)
			}
			fmt.Fprintf(stdout, "created terminal %s; its agent configuration, with its token (shown once), is in %s\n", id, *out)
		} else {
			fmt.Fprintf(stdout, "created terminal %s\ntoken (shown once, store it on the device): %s\n\n", id, token)
			fmt.Fprintf(stdout, "agent configuration (save as the device's agent.json, mode 0600; add the files to follow to log_inputs):\n%s\n", cfg)
		}
		if len(gs) == 0 {
			fmt.Fprintf(stderr, "edgesync: %s has no groups: only admins see it (operators and viewers see the terminals of their groups; the local stack's operator and viewer tokens see group demo: -group demo)\n", id)
		}
	case "rotate":
		token, err := a.rotate(ctx, id, *overlap)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new token for %s (old tokens work for %v more): %s\n", id, *overlap, token)
	case "revoke":
		if err := a.revoke(ctx, id, *credential); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s of %s (its connections are closed and refused from now on)\n", orAll(*credential), id)
	case "delete":
		if err := a.delete(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted terminal %s (its logs and commands expire with their retention; its audit trail stays)\n", id)
	case "list":
		return list(ctx, a, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	return nil
}

// agentConfig is the minimal agent.json of a new terminal (docs/agent.md).
func agentConfig(id, serverURL, token string, logs []string, spool string) string {
	cfg := map[string]any{"terminal_id": id, "server_url": serverURL, "token": token, "log_inputs": append([]string{}, logs...)}
	if spool != "" {
		cfg["spool_dir"] = spool
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

// login names the OS user running the CLI.
func login() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v := os.Getenv("USER"); v != "" {
		return v
	}
	return "unknown"
}

func orAll(cred string) string {
	if cred == "" {
		return "every credential"
	}
	return "credential " + cred
}

func list(ctx context.Context, a admin, stdout io.Writer) error {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tGROUPS\tONLINE\tLAST SEEN\tCREDENTIALS")
	cursor := ""
	for {
		ts, next, err := a.page(ctx, cursor)
		if err != nil {
			return err
		}
		for _, t := range ts {
			var creds []string
			for _, c := range t.Credentials {
				state := "active"
				if !c.NotAfter.IsZero() {
					state = "until " + c.NotAfter.UTC().Format(time.RFC3339)
				}
				creds = append(creds, c.ID+" ("+state+")")
			}
			seen := "never"
			if !t.LastSeen.IsZero() {
				seen = t.LastSeen.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Groups, ","), t.Online, seen, strings.Join(creds, ", "))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return w.Flush()
}

// groupIndexer is a store whose group index an operator may have to build
// (infra/dynamo: tables written before the index existed).
type groupIndexer interface {
	IndexGroups(ctx context.Context) (int, error)
}

// indexGroups writes the group index of the store, when it needs writing.
func indexGroups(ctx context.Context, store fleet.Store, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	gi, ok := store.(groupIndexer)
	if !ok {
		fmt.Fprintln(stdout, "this store keeps its group index itself; nothing to do")
		return nil
	}
	n, err := gi.IndexGroups(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indexed the groups of %d terminals\n", n)
	return nil
}
