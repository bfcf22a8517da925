import { runRole } from '../runtime/entry';

runRole('api');
