"""duty-retriever: find who supervises what in Chinese safety-duty regulations."""

__version__ = "0.1.0"
