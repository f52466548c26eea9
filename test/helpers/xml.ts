/**
 * The strict XML reader of the tests of JUnit reports. It is markup.ts's, which the tests of the
 * SVG pictures and of the HTML report read with too: elements, attributes, text, the five named
 * entities and character references, one root; anything not well-formed throws, naming the
 * offset, so a test that parses a report also proves it is XML a CI system can read.
 */
export { parseXml, type Element as XmlElement } from './markup.js';
