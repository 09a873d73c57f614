// Reads the UPnP error out of a SOAP fault body (UPnP Device Architecture 2.0,
// §3.2.2: <s:Fault>…<detail><UPnPError><errorCode>718</errorCode>
// <errorDescription>…</errorDescription></UPnPError></detail></s:Fault>).
// Pure; the adapter branches on the numeric code, never on the description text.

export interface SoapFault {
  upnpErrorCode: number;
  errorDescription: string;
}

/** UPnP IGD WANIPConnection error codes the daemon treats specially. */
export const UPNP_ERR = {
  invalidArgs: 402,
  actionFailed: 501,
  notAuthorized: 606,
  specifiedArrayIndexInvalid: 713,
  noSuchEntry: 714,
  conflictInMappingEntry: 718,
  onlyPermanentLeasesSupported: 725,
  noPortMapsAvailable: 728,
  conflictWithOtherMechanisms: 729,
} as const;

// Element names may carry any namespace prefix (miniupnpd sends none inside
// UPnPError, others send e.g. <u:errorCode>).
const ELEMENT = (name: string): RegExp =>
  new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>`);

/** The UPnP error in `body`, or undefined when the text holds no UPnPError with a numeric code. */
export function parseSoapFault(body: unknown): SoapFault | undefined {
  if (typeof body !== 'string') return undefined;
  const code = ELEMENT('errorCode').exec(body)?.[1]?.trim();
  if (code === undefined || !/^\d{1,4}$/.test(code)) return undefined;
  const description = ELEMENT('errorDescription').exec(body)?.[1]?.trim() ?? '';
  return { upnpErrorCode: Number(code), errorDescription: description };
}
