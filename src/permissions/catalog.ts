/**
 * The application permissions: the 25 features of the Apromore manual, in the manual's order.
 * Keys are stable strings; code refers to them through `P`, never as bare strings.
 */
export const APP_PERMISSIONS = [
  { key: 'models.create', label: 'Create models', area: 'Models', description: 'Create new process models in the Workspace.' },
  { key: 'models.discover', label: 'Discover & analyze models from logs', area: 'Logs', description: 'Open an event log in the Process Discoverer to visualize a process map or process model.' },
  { key: 'models.edit', label: 'Edit & publish models', area: 'Models', description: 'Edit existing process models or trigger their publication.' },
  { key: 'models.view', label: 'View models', area: 'Models', description: 'Open an existing process model in the model editor.' },
  { key: 'calendars.manage', label: 'Manage calendars', area: 'Logs', description: 'Attach a calendar to an event log or create new calendars.' },
  { key: 'logs.filter', label: 'Filter logs', area: 'Logs', description: 'Create a new named filter.' },
  { key: 'logs.save_filtered', label: 'Save filtered logs', area: 'Logs', description: 'Apply a filter to a log and save the resulting filtered log in the Workspace.' },
  { key: 'logs.animate', label: 'Animate logs', area: 'Logs', description: 'Run a log animation in Process Discoverer or from the Workspace.' },
  { key: 'models.compare', label: 'Compare models', area: 'Models', description: 'Use the model comparison feature.' },
  { key: 'conformance.check', label: 'Check conformance', area: 'Models', description: 'Use the conformance checking feature.' },
  { key: 'models.simulate', label: 'Simulate models', area: 'Models', description: 'Start a simulation from the process model editor or the Process Discoverer.' },
  { key: 'dashboards.view', label: 'View dashboards', area: 'Dashboards', description: 'Open a log in the Dashboard module.' },
  { key: 'dashboards.edit', label: 'Create & edit dashboards', area: 'Dashboards', description: 'Create a new custom dashboard, edit an existing dashboard, or manage dashboard templates.' },
  { key: 'models.merge', label: 'Merge models', area: 'Models', description: "Use the 'Merge models' feature in the Workspace." },
  { key: 'models.search_similar', label: 'Search similar models', area: 'Models', description: "Use the 'Search similar models' feature in the Workspace." },
  { key: 'predictive.view', label: 'View predictive monitoring dashboards', area: 'Predictive monitoring', description: 'Attach a predictor to a log to visualize the case predictions.' },
  { key: 'predictive.train', label: 'Training predictive models', area: 'Predictive monitoring', description: 'Create a new predictor or edit or remove existing predictors.' },
  { key: 'pipelines.create', label: 'Create data pipelines', area: 'Data pipelines', description: 'Open the ETL data pipelines environment from the Workspace.' },
  { key: 'pipelines.manage', label: 'Manage data pipelines', area: 'Data pipelines', description: "Open the 'Manage data pipelines' window to view and edit existing pipelines." },
  { key: 'logs.download', label: 'Download logs', area: 'Logs', description: 'Download an event log in the Workspace.' },
  { key: 'logs.upload', label: 'Upload logs', area: 'Logs', description: 'Upload an event log to the Workspace.' },
  { key: 'models.upload', label: 'Upload models', area: 'Models', description: 'Upload a process model to the Workspace.' },
  { key: 'users.manage', label: 'Manage users, groups, and roles', area: 'Administration', description: 'Create, edit, or remove users, groups, or roles.' },
  { key: 'access.manage', label: 'Manage access rights', area: 'Administration', description: "Open the 'Manage access rights' window: workspaces, group permissions and assets." },
  { key: 'api.access', label: 'Access API', area: 'Administration', description: 'Access the functionality of Gatehouse via its API.' },
] as const;

export type AppPermission = (typeof APP_PERMISSIONS)[number]['key'];

/** Typed names for the permissions the console itself checks. */
export const P = {
  usersManage: 'users.manage',
  accessManage: 'access.manage',
  apiAccess: 'api.access',
} as const satisfies Record<string, AppPermission>;

export const ALL_PERMISSION_KEYS: readonly AppPermission[] = APP_PERMISSIONS.map((p) => p.key);

export function isAppPermission(key: string): key is AppPermission {
  return (ALL_PERMISSION_KEYS as readonly string[]).includes(key);
}

/** The built-in roles of PRODUCT.md. Read-only; exactly one is the default for new users at install. */
export const BUILT_IN_ROLES = [
  {
    key: 'superuser',
    name: 'Superuser',
    description: 'Every application permission. Only a Superuser may edit role permissions, assign this role or change license seats.',
    license: 'process_modeler',
    permissions: ALL_PERMISSION_KEYS,
    isDefault: false,
  },
  {
    key: 'administrator',
    name: 'Administrator',
    description: 'Manages users, groups and roles, and access rights.',
    license: 'project_manager',
    permissions: ['users.manage', 'access.manage'],
    isDefault: false,
  },
  {
    key: 'analyst',
    name: 'Analyst',
    description: 'Every analysis feature; no administration and no API.',
    license: 'process_modeler',
    permissions: ALL_PERMISSION_KEYS.filter((k) => !['users.manage', 'access.manage', 'api.access'].includes(k)),
    isDefault: true,
  },
  {
    key: 'model_designer',
    name: 'Model Designer',
    description: 'Creates, edits, publishes and simulates process models.',
    license: 'process_modeler',
    permissions: ['models.create', 'models.edit', 'models.view', 'models.compare', 'models.simulate', 'models.upload'],
    isDefault: false,
  },
  {
    key: 'viewer',
    name: 'Viewer',
    description: 'Views models and dashboards; cannot change anything.',
    license: 'process_viewer',
    permissions: ['models.view', 'logs.animate', 'models.compare', 'dashboards.view', 'models.search_similar'],
    isDefault: false,
  },
] as const satisfies ReadonlyArray<{
  key: string;
  name: string;
  description: string;
  license: string;
  permissions: readonly AppPermission[];
  isDefault: boolean;
}>;

export type BuiltInRoleKey = (typeof BUILT_IN_ROLES)[number]['key'];
export const SUPERUSER_ROLE_KEY: BuiltInRoleKey = 'superuser';

/**
 * Checks the catalog for consistency at start-up (like Django's system checks): unique keys,
 * built-in roles only naming known permissions, exactly one default role.
 */
export function checkCatalog(): void {
  const keys = new Set<string>();
  for (const p of APP_PERMISSIONS) {
    if (keys.has(p.key)) throw new Error(`Duplicate application permission ${p.key}`);
    keys.add(p.key);
  }
  if (APP_PERMISSIONS.length !== 25) throw new Error('The catalog must hold the 25 application permissions of the manual');
  for (const r of BUILT_IN_ROLES) {
    for (const k of r.permissions) if (!keys.has(k)) throw new Error(`Role ${r.name} names unknown permission ${k}`);
  }
  if (BUILT_IN_ROLES.filter((r) => r.isDefault).length !== 1) throw new Error('Exactly one built-in role must be the default');
  for (const k of Object.values(P)) if (!keys.has(k)) throw new Error(`P names unknown permission ${k}`);
}
