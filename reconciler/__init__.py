"""pcr: a GitOps reconciler for Microsoft Partner Center reseller relationships."""

__version__ = "0.1.0"
