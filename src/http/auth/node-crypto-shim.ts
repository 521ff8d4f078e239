// Stands in for Node's `crypto` module in the Worker bundle (wrangler.toml [alias]). bcryptjs imports it only
// as a fallback source of random bytes for generating salts; Berth only verifies hashes, and the Workers
// runtime has WebCrypto, which bcryptjs tries first. Without the alias the bundle would import a Node
// built-in that a Worker without nodejs_compat cannot load.
export default {};
