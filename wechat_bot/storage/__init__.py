"""The Redis plumbing: the connection (a URL, Sentinel, Cluster, the embedded Redis), its wire, leases, do-once,
pending writes, the account's keyspace and the upgrade of earlier versions' keys."""
