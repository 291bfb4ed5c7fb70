"""Clause stores behind one protocol (:mod:`retriever.stores.base`); FAISS stays the default."""
