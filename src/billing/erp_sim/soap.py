"""SOAP 1.1 envelopes: a hardened request parser, result envelopes, and faults shaped like NAV's (§1.4).

The parser never resolves entities, loads no DTD, fetches nothing over the network and keeps libxml2's limits
on depth and text size (no ``huge_tree``); a document with a DOCTYPE is refused outright. Anything malformed
is an ``s:Client`` fault. A failed operation answers HTTP 500 with::

    <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
      <faultcode xmlns:a="urn:microsoft-dynamics-schemas/error">a:Microsoft.Dynamics.Nav.Types.Exceptions.X</faultcode>
      <faultstring xml:lang="en-US">message</faultstring>
      <detail><string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">message</string></detail>
    </s:Fault></s:Body></s:Envelope>
"""

from __future__ import annotations

import threading

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NAV_ERROR_NS = "urn:microsoft-dynamics-schemas/error"
NAV_EXCEPTIONS = "Microsoft.Dynamics.Nav.Types.Exceptions."
SERIALIZATION_NS = "http://schemas.microsoft.com/2003/10/Serialization/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
CONTENT_TYPE = "text/xml; charset=utf-8"
_ENVELOPE_START = f'<Soap:Envelope xmlns:Soap="{SOAP_ENV}"><Soap:Body>'.encode()


class SoapFault(Exception):
    """An operation failure: ``code`` is a NAV exception name (``NavTestFieldException``) or ``s:Client``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def client(cls, message: str) -> SoapFault:
        return cls("s:Client", message)

    def render(self) -> bytes:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
        fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
        if self.code.startswith("s:"):
            etree.SubElement(fault, "faultcode").text = self.code
        else:
            code = etree.SubElement(fault, "faultcode", nsmap={"a": NAV_ERROR_NS})
            code.text = f"a:{NAV_EXCEPTIONS}{self.code}"
        etree.SubElement(fault, "faultstring", {f"{{{XML_NS}}}lang": "en-US"}).text = self.message
        detail = etree.SubElement(fault, "detail")
        etree.SubElement(detail, f"{{{SERIALIZATION_NS}}}string", nsmap={None: SERIALIZATION_NS}).text = self.message
        return etree.tostring(envelope, encoding="utf-8")


_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers are not shared between threads)."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _parsers.parser = parser
    return parser


def parse_request(body: bytes, namespace: str) -> etree._Element:
    """The operation element of a request envelope whose body element is in ``namespace``."""
    if not body.strip():
        raise SoapFault.client("The request has no body.")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault.client(f"The request is not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SoapFault.client("A DOCTYPE is not allowed in a SOAP message.")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault.client("The request is not a SOAP 1.1 Envelope.")
    bodies = root.findall(f"{{{SOAP_ENV}}}Body")
    if len(bodies) != 1:
        raise SoapFault.client("The SOAP Envelope must have exactly one Body.")
    operations = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise SoapFault.client("The SOAP Body must contain exactly one operation element.")
    operation = operations[0]
    if etree.QName(operation).namespace != namespace:
        raise SoapFault.client(f"The operation element must be in the namespace {namespace}.")
    return operation


def result_envelope(result: bytes) -> bytes:
    """The answer to an operation: ``result`` is the serialized ``{Operation}_Result`` element."""
    return (
        b'<Soap:Envelope xmlns:Soap="' + SOAP_ENV.encode() + b'"><Soap:Body>' + result + b"</Soap:Body></Soap:Envelope>"
    )
