"""drlab: a local two-region emulation of Alibaba Cloud ASM + GTM on loopback.

It is an emulator, not the cloud: it speaks the same wire protocols (Alibaba
OpenAPI with real signatures, the Kubernetes REST API, DNS, HTTP through a real
Envoy) so that the collection's modules, roles and playbooks run unchanged.
"""

__version__ = "0.1.0"
