package reflection

// NoV2FastPath makes c leave every message to jsonrpc2, as if it had no
// fast path, for tests that compare the two.
func NoV2FastPath(c *Client) { c.noFastPath = true }
