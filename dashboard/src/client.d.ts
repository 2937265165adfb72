// Types of the client module. At run time "./client.js" is the compiled
// @edgesync/client (client/dist/index.js), copied next to the dashboard's
// scripts by scripts/build-frontend.sh, which builds client/dist (not
// committed) first; this declaration lets tsc check the dashboard against
// the client's own declarations without compiling it again.
export * from "../../client/dist/index.js";
