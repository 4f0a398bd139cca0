#include "imses_schemas.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <vector>

namespace rostersync::testing {
namespace fs = std::filesystem;

namespace {
void collect(void* ctx, const char* fmt, ...) {
  auto* out = static_cast<std::string*>(ctx);
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  *out += buf;
}

const xmlNode* find(const xmlNode* n, const std::string& ns, const std::string& name) {
  for (; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(n->name) && n->ns &&
        ns == reinterpret_cast<const char*>(n->ns->href)) {
      return n;
    }
    if (const xmlNode* c = find(n->children, ns, name)) return c;
  }
  return nullptr;
}

void collect_texts(const xmlNode* n, const std::string& ns, const std::string& name, std::vector<std::string>& out) {
  for (; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(n->name) && n->ns &&
        ns == reinterpret_cast<const char*>(n->ns->href)) {
      xmlChar* text = xmlNodeGetContent(n);
      out.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      xmlFree(text);
    }
    collect_texts(n->children, ns, name, out);
  }
}
}  // namespace

struct ImsesSchemas::Impl {
  fs::path dir;
  std::map<std::string, xmlSchemaPtr> schemas;  // by target namespace
};

ImsesSchemas::ImsesSchemas() : impl_(new Impl) {
  fs::path wsdl = fs::path(ROSTERSYNC_SHARED_DIR) / "specs" / "imses" / "MembershipManagementServiceSync.xml";
  xmlDocPtr doc = xmlReadFile(wsdl.c_str(), nullptr, XML_PARSE_NONET);
  if (!doc) throw std::runtime_error("cannot parse " + wsdl.string());
  impl_->dir = fs::temp_directory_path() / ("imses-xsd-" + std::to_string(::getpid()));
  fs::create_directories(impl_->dir);

  std::vector<xmlNodePtr> schema_nodes;
  for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "types")) {
      for (xmlNodePtr s = n->children; s; s = s->next) {
        if (s->type == XML_ELEMENT_NODE && xmlStrEqual(s->name, BAD_CAST "schema")) schema_nodes.push_back(s);
      }
    }
  }
  std::map<std::string, std::string> file_of;  // namespace -> file name
  for (std::size_t i = 0; i < schema_nodes.size(); ++i) {
    xmlChar* tns = xmlGetProp(schema_nodes[i], BAD_CAST "targetNamespace");
    file_of[reinterpret_cast<char*>(tns)] = "schema" + std::to_string(i) + ".xsd";
    xmlFree(tns);
  }
  for (std::size_t i = 0; i < schema_nodes.size(); ++i) {
    xmlDocPtr out = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr copy = xmlDocCopyNode(schema_nodes[i], out, 1);
    xmlDocSetRootElement(out, copy);
    xmlReconciliateNs(out, copy);
    for (xmlNodePtr c = copy->children; c; c = c->next) {
      if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "import")) {
        xmlChar* ns = xmlGetProp(c, BAD_CAST "namespace");
        xmlSetProp(c, BAD_CAST "schemaLocation", BAD_CAST file_of.at(reinterpret_cast<char*>(ns)).c_str());
        xmlFree(ns);
      }
    }
    xmlSaveFormatFileEnc((impl_->dir / ("schema" + std::to_string(i) + ".xsd")).c_str(), out, "UTF-8", 1);
    xmlFreeDoc(out);
  }
  xmlFreeDoc(doc);
  for (const auto& [ns, file] : file_of) {
    std::string errors;
    xmlSchemaParserCtxtPtr ctxt = xmlSchemaNewParserCtxt((impl_->dir / file).c_str());
    xmlSchemaSetParserErrors(ctxt, collect, collect, &errors);
    xmlSchemaPtr schema = xmlSchemaParse(ctxt);
    xmlSchemaFreeParserCtxt(ctxt);
    if (!schema) throw std::runtime_error("schema for " + ns + " does not compile: " + errors);
    impl_->schemas[ns] = schema;
  }
}

ImsesSchemas::~ImsesSchemas() {
  for (auto& [ns, s] : impl_->schemas) xmlSchemaFree(s);
  std::error_code ec;
  fs::remove_all(impl_->dir, ec);
  delete impl_;
}

std::string ImsesSchemas::validate_element(const std::string& document, const std::string& ns,
                                           const std::string& local_name) const {
  xmlDocPtr doc = xmlReadMemory(document.data(), static_cast<int>(document.size()), "doc.xml", nullptr, XML_PARSE_NONET);
  if (!doc) return "not well-formed XML";
  const xmlNode* element = find(xmlDocGetRootElement(doc), ns, local_name);
  if (!element) {
    xmlFreeDoc(doc);
    return "no element {" + ns + "}" + local_name;
  }
  auto it = impl_->schemas.find(ns);
  if (it == impl_->schemas.end()) {
    xmlFreeDoc(doc);
    return "no schema for namespace " + ns;
  }
  xmlDocPtr part = xmlNewDoc(BAD_CAST "1.0");
  xmlNodePtr copy = xmlDocCopyNode(const_cast<xmlNode*>(element), part, 1);
  xmlDocSetRootElement(part, copy);
  xmlReconciliateNs(part, copy);
  std::string errors;
  xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(it->second);
  xmlSchemaSetValidErrors(v, collect, collect, &errors);
  int rc = xmlSchemaValidateDoc(v, part);
  xmlSchemaFreeValidCtxt(v);
  xmlFreeDoc(part);
  xmlFreeDoc(doc);
  if (rc == 0) return "";
  return errors.empty() ? "invalid (code " + std::to_string(rc) + ")" : errors;
}

std::vector<std::string> element_texts(const std::string& document, const std::string& ns, const std::string& local_name) {
  xmlDocPtr doc = xmlReadMemory(document.data(), static_cast<int>(document.size()), "document.xml", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) throw std::runtime_error("not well-formed XML");
  std::vector<std::string> out;
  collect_texts(xmlDocGetRootElement(doc), ns, local_name, out);
  xmlFreeDoc(doc);
  return out;
}

}  // namespace rostersync::testing
