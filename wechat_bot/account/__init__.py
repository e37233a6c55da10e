"""The account's own API state: its global access token, and wechatpy's client on it."""
