"""The engine: cells, the dispatcher, kernels for asyncio and trio, timers, local refs.

It runs actors and knows nothing of the layers above it: what a cell needs of its system
is the `Host` protocol in `runtime._engine.host`, which `ActorSystem` satisfies.
"""
