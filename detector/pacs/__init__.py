"""PACS query, retrieve and send (Qt-free): DIMSE through pynetdicom, DICOMweb through dicomweb-client.

``servers`` (the servers file, URL forms, redacted display), ``errors`` (one line naming the
server), ``query`` (the query and result models), ``dimse`` and ``dicomweb`` (one client per
protocol, the same methods), ``client`` (pick the client for a server), ``retrieve`` (into a
folder, resumable, atomic) and ``send`` (files and folders to the server).
"""
