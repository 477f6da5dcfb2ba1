import { defaultResource, detectResources, resourceAttributesEnvDetector, resourceFromAttributes, serviceNameEnvDetector, type Resource } from '@opentelemetry/resources';

/**
 * The resource every span shares: `service.name` is `nginx` unless OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_SERVICE_NAME or --service-name (strongest last) say otherwise.
 */
export function sidecarResource(serviceName?: string): Resource {
  let resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'nginx' }))
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
  if (serviceName !== undefined) resource = resource.merge(resourceFromAttributes({ 'service.name': serviceName }));
  return resource;
}
