"""The client for a server: :class:`DimseClient` or :class:`DicomwebClient`, the same methods."""

from __future__ import annotations

from detector.pacs.dicomweb import DicomwebClient
from detector.pacs.dimse import DimseClient
from detector.pacs.servers import Server


def open_client(
    server: Server, *, move_dest: str = "", store_port: int = 0
) -> DimseClient | DicomwebClient:
    """The protocol client for ``server`` (nothing is sent until a method is called).

    ``move_dest`` and ``store_port`` make a DIMSE client retrieve with C-MOVE (see
    :class:`DimseClient`).
    """
    if server.protocol == "dimse":
        return DimseClient(server, move_dest=move_dest, store_port=store_port)
    return DicomwebClient(server)
