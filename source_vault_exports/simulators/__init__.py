"""Loopback simulators of the vendors' APIs, for tests, benchmarks and the local demo sync.

Each listens on 127.0.0.1 only. Start one from Python (`LoopbackServer(ZuoraSimulator()).start()`)
or from the shell (`vault-exports-simulator zuora --port 8081`).
"""
