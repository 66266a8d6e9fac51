"""The Dask backend: cluster connection, actor hosts, calls to them."""
